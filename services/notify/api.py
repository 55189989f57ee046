"""Notify HTTP API: the notification log and the opt-out list."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from sqlalchemy import select

from services.notify.models import Notification, OptOut
from services.notify.schemas import (
    NotificationPage,
    NotificationRead,
    NotificationStatus,
    OptOutCreate,
    OptOutRead,
)
from shared.auth import Principal, require_roles
from shared.errors import PROBLEM_RESPONSES, Problem, field_error
from shared.pagination import decode_int_cursor, encode_cursor
from shared.phone import InvalidPhoneNumber, mask_msisdn, normalize_msisdn
from shared.service import Runtime, runtime

router = APIRouter(prefix="/v1/notifications", tags=["notifications"], responses=PROBLEM_RESPONSES)
Staff = Annotated[
    Principal,
    Depends(
        require_roles("agent", "frontline", "room_manager", "centre_manager", "leadership", "ops")
    ),
]
Ops = Annotated[Principal, Depends(require_roles("ops"))]
Rt = Annotated[Runtime, Depends(runtime)]


def read_model(n: Notification) -> NotificationRead:
    return NotificationRead(
        id=str(n.id),
        ticket_no=n.ticket_no,
        channel=n.channel,
        template=n.template,
        recipient=n.recipient_masked,
        subject=n.subject,
        body=n.body,
        status=n.status,
        attempts=n.attempts,
        provider_message_id=n.provider_message_id,
        last_error=n.last_error,
        send_after=n.send_after,
        created_at=n.created_at,
        sent_at=n.sent_at,
    )


@router.get(
    "",
    response_model=NotificationPage,
    summary="Notifications recorded (oldest first); recipients masked",
)
async def list_notifications(
    _: Staff,
    rt: Rt,
    ticket_no: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
    channel: Literal["sms", "email"] | None = None,
    status: NotificationStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
) -> NotificationPage:
    query = select(Notification).order_by(Notification.id).limit(limit + 1)
    if ticket_no is not None:
        query = query.where(Notification.ticket_no == ticket_no)
    if channel is not None:
        query = query.where(Notification.channel == channel)
    if status is not None:
        query = query.where(Notification.status == status)
    if cursor is not None:
        query = query.where(Notification.id > decode_int_cursor(cursor))
    async with rt.db.sessions() as session:
        rows = list((await session.scalars(query)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return NotificationPage(
        items=[read_model(n) for n in rows],
        next_cursor=encode_cursor(rows[-1].id) if more else None,
    )


def _msisdn(raw: str) -> str:
    try:
        return normalize_msisdn(raw)
    except InvalidPhoneNumber as exc:
        raise field_error("msisdn", str(exc)) from exc


def _opt_out_read(o: OptOut) -> OptOutRead:
    return OptOutRead(
        msisdn=o.msisdn_masked, reason=o.reason, created_by=o.created_by, created_at=o.created_at
    )


@router.get("/opt-outs", response_model=list[OptOutRead], summary="Customers who opted out")
async def list_opt_outs(_: Ops, rt: Rt) -> list[OptOutRead]:
    async with rt.db.sessions() as session:
        rows = (await session.scalars(select(OptOut).order_by(OptOut.created_at))).all()
    return [_opt_out_read(o) for o in rows]


@router.post(
    "/opt-outs",
    status_code=201,
    response_model=OptOutRead,
    summary="Stop optional SMS to a customer (messages the rules require still go)",
    responses={200: {"description": "Already opted out", "model": OptOutRead}},
)
async def add_opt_out(body: OptOutCreate, principal: Ops, rt: Rt, response: Response) -> OptOutRead:
    msisdn = _msisdn(body.msisdn)
    async with rt.db.uow() as uow:
        existing = await uow.session.get(OptOut, msisdn)
        if existing is not None:
            response.status_code = 200
            return _opt_out_read(existing)
        row = OptOut(
            msisdn=msisdn,
            msisdn_masked=mask_msisdn(msisdn) or "",
            reason=body.reason,
            created_by=principal.sub,
        )
        uow.session.add(row)
        await uow.session.flush()
        await uow.commit()
        return _opt_out_read(row)


@router.delete("/opt-outs/{msisdn}", status_code=204, summary="Resume optional SMS to a customer")
async def remove_opt_out(
    msisdn: Annotated[str, Path(min_length=5, max_length=20, examples=["13800138000"])],
    _: Ops,
    rt: Rt,
) -> Response:
    number = _msisdn(msisdn)
    async with rt.db.uow() as uow:
        row = await uow.session.get(OptOut, number)
        if row is None:
            raise Problem(404, "Not Found", "this number has not opted out")
        await uow.session.delete(row)
        await uow.commit()
    return Response(status_code=204)
