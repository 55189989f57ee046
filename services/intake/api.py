"""Intake HTTP API: thin routes that parse, call a handler and shape the response."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Response
from sqlalchemy import or_, select
from sqlalchemy.orm.exc import StaleDataError

from services.intake import access, handlers
from services.intake.lifecycle import STATUSES, Command, allowed_commands
from services.intake.models import Complaint, TimelineEntry
from services.intake.schemas import (
    Assignment,
    CancelBody,
    Category,
    Channel,
    CommandBody,
    ComplaintCreate,
    ComplaintPage,
    ComplaintRead,
    FeedbackBody,
    HoldBody,
    Note,
    NoteBody,
    ReclassifyBody,
    ReplyBody,
    ResolveBody,
    Source,
    StatusChange,
    TimelineItem,
)
from services.intake.settings import IntakeSettings
from shared.auth import Principal, require_roles
from shared.db import UnitOfWork
from shared.errors import PROBLEM_RESPONSES, Problem, field_error
from shared.idempotency import Created, request_fingerprint
from shared.pagination import decode_int_cursor, encode_cursor
from shared.phone import InvalidPhoneNumber, mask_msisdn, normalize_msisdn
from shared.service import Runtime, runtime

router = APIRouter(prefix="/v1/complaints", tags=["complaints"], responses=PROBLEM_RESPONSES)

HANDLER_ROLES = ("agent", "frontline", "room_manager", "centre_manager", "leadership")
READER_ROLES = (*HANDLER_ROLES, "ops", "partner")
Filer = Annotated[Principal, Depends(require_roles("agent", "frontline"))]
Reader = Annotated[Principal, Depends(require_roles(*READER_ROLES))]
Readable = Annotated[Principal, Depends(access.ticket_access("read", READER_ROLES))]
Noter = Annotated[Principal, Depends(access.ticket_access("note", READER_ROLES))]
Handlers = Annotated[Principal, Depends(access.ticket_access("act", HANDLER_ROLES))]
Rt = Annotated[Runtime, Depends(runtime)]


def read_model(
    c: Complaint, principal: Principal, timeline: list[TimelineEntry] | None = None
) -> ComplaintRead:
    """The complaint as `principal` may see it (MSISDN masked for roles that do not need it)."""
    full = principal.has_any(*access.RULES.full_msisdn_roles)
    timeline = timeline or []
    return ComplaintRead(
        ticket_no=c.ticket_no,
        status=c.status,
        channel=c.channel,
        msisdn=None if c.msisdn is None else c.msisdn if full else mask_msisdn(c.msisdn) or "",
        no_customer_reason=c.details.get("no_customer_reason"),
        description=c.description,
        category=c.category,
        category_confidence=c.category_confidence,
        severity=c.severity,
        major=c.major,
        major_reasons=c.major_reasons,
        over_level=c.over_level,
        accepting_department=c.accepting_department,
        user_type=c.user_type,
        desk_id=c.desk_id,
        store_id=c.store_id,
        source=(
            Source(org=c.source_org, external_id=c.source_external_id)
            if c.source_org and c.source_external_id
            else None
        ),
        assignment=Assignment(
            owner_department=c.owner_department,
            handler_department=c.handler_department,
            assignee=c.assignee,
            supervisor=c.supervisor,
        ),
        allowed_commands=allowed_commands(c.status),
        sla=c.sla,
        refunds=c.refunds,
        resolution=c.resolution,
        feedback=c.feedback,
        reopen_count=c.reopen_count,
        received_at=c.received_at,
        updated_at=c.updated_at,
        status_history=[
            StatusChange(
                from_status=t.detail.get("from"),
                to_status=t.detail["to"],
                actor=t.actor,
                at=t.at,
                reason=t.detail.get("reason"),
            )
            for t in timeline
            if t.kind == "status"
        ],
        notes=[
            Note(author=t.actor, at=t.at, text=t.detail["text"])
            for t in timeline
            if t.kind == "note"
        ],
        timeline=[
            TimelineItem(kind=t.kind, actor=t.actor, at=t.at, detail=t.detail) for t in timeline
        ],
    )


@router.post(
    "", status_code=201, response_model=ComplaintRead, summary="Register a complaint (受理)"
)
async def create_complaint(
    body: ComplaintCreate,
    principal: Filer,
    rt: Rt,
    response: Response,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> ComplaintRead:
    """Registers, classifies and judges a complaint. A retry with the same
    `Idempotency-Key` and body returns the original ticket."""
    settings: IntakeSettings = rt.settings  # type: ignore[assignment]
    accepting = principal.dept or settings.default_department
    cmd = handlers.RegisterComplaint(
        data=body,
        principal=principal,
        accepting_department=accepting,
        major_policy=settings.major,
        user_type_asserters=settings.user_type_asserters,
    )

    made: list[ComplaintRead] = []

    async def create(uow: UnitOfWork) -> Created:
        complaint = await handlers.register_complaint(cmd, uow)
        made.extend(await _as_read(uow, complaint, principal, rt))
        return Created(complaint.ticket_no, replayed=False)

    created = await rt.idempotent.run(
        scope=f"complaints:{principal.sub}",
        key=idempotency_key,
        fingerprint=request_fingerprint(body.model_dump(mode="json")),
        create=create,
    )
    if created.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/v1/complaints/{created.resource_id}"
    if made and not created.replayed:
        return made[0]
    return await read_one(created.resource_id, principal, rt)


async def _as_read(
    uow: UnitOfWork, complaint: Complaint, principal: Principal, rt: Runtime
) -> list[ComplaintRead]:
    """The new complaint as its creator reads it, from what this transaction wrote (no read
    back after the commit), with the audited read of a full number in the same transaction;
    nothing when the creator cannot read it (the route then answers as a GET would)."""
    try:
        access.check(complaint, complaint.ticket_no, principal, rt, "read")
    except Problem:
        return []
    await uow.session.flush()  # ids and defaults of the timeline entries
    timeline = sorted(
        (
            o
            for o in uow.session.identity_map.values()
            if isinstance(o, TimelineEntry) and o.complaint_id == complaint.id
        ),
        key=lambda entry: entry.id,
    )
    if access.sees_full_msisdn(principal, rt.settings):
        ticket = [complaint.ticket_no]
        await access.audit_read(uow, principal, "read_msisdn", ticket, "view complaint")
    return [read_model(complaint, principal, timeline)]


@router.get("/{ticket_no}", response_model=ComplaintRead, summary="One complaint with its history")
async def get_complaint(ticket_no: str, principal: Readable, rt: Rt) -> ComplaintRead:
    """A complaint in your scope (others answer 404); a full number shown is audited."""
    return await read_one(ticket_no, principal, rt)


async def read_one(ticket_no: str, principal: Principal, rt: Runtime) -> ComplaintRead:
    async with rt.db.sessions() as session:
        complaint = access.check(
            await session.scalar(select(Complaint).where(Complaint.ticket_no == ticket_no)),
            ticket_no,
            principal,
            rt,
            "read",
        )
        timeline = (
            await session.scalars(
                select(TimelineEntry)
                .where(TimelineEntry.complaint_id == complaint.id)
                .order_by(TimelineEntry.id)
            )
        ).all()
    result = read_model(complaint, principal, list(timeline))
    if access.sees_full_msisdn(principal, rt.settings):
        await access.audit_now(rt, principal, "read_msisdn", [ticket_no], "view complaint")
    return result


@router.get("", response_model=ComplaintPage, summary="List complaints, newest first")
async def list_complaints(
    principal: Reader,
    rt: Rt,
    status: Literal[STATUSES] | None = None,  # type: ignore[valid-type]
    category: Category | None = None,
    department: Annotated[
        str | None, Query(max_length=64, description="Handler or owner department")
    ] = None,
    received_from: Annotated[
        datetime | None, Query(description="Received at or after (ISO 8601 with offset)")
    ] = None,
    received_to: Annotated[datetime | None, Query(description="Received before")] = None,
    channel: Channel | None = None,
    severity: Literal["normal", "major", "urgent"] | None = None,
    major: bool | None = None,
    msisdn: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> ComplaintPage:
    query = (
        select(Complaint)
        .where(access.list_filter(principal, rt.settings))
        .order_by(Complaint.id.desc())
        .limit(limit + 1)
    )
    filters = {
        "status": status,
        "category": category,
        "channel": channel,
        "severity": severity,
        "major": major,
    }
    for name, value in filters.items():
        if value is not None:
            query = query.where(getattr(Complaint, name) == value)
    if department is not None:
        query = query.where(
            or_(
                Complaint.handler_department == department,
                Complaint.owner_department == department,
            )
        )
    for name, bound in (("received_from", received_from), ("received_to", received_to)):
        if bound is not None and bound.tzinfo is None:
            raise field_error(name, "must include a timezone offset")
    if received_from is not None:
        query = query.where(Complaint.received_at >= received_from)
    if received_to is not None:
        query = query.where(Complaint.received_at < received_to)
    if msisdn is not None:
        if not principal.has_any(*access.RULES.msisdn_search_roles):
            raise Problem(403, "Forbidden", "searching by number is not open to your role")
        try:
            query = query.where(Complaint.msisdn == normalize_msisdn(msisdn))
        except InvalidPhoneNumber as exc:
            raise Problem(
                422,
                "Invalid request",
                f"msisdn: {exc}",
                errors=[{"field": "msisdn", "message": str(exc)}],
            ) from exc
    if cursor is not None:
        query = query.where(Complaint.id < decode_int_cursor(cursor))
    async with rt.db.sessions() as session:
        rows = list((await session.scalars(query)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    shown = [c.ticket_no for c in rows]
    if msisdn is not None:
        await access.audit_now(rt, principal, "search_msisdn", shown, "search by number")
    elif access.sees_full_msisdn(principal, rt.settings):
        await access.audit_now(rt, principal, "read_msisdn", shown, "list complaints")
    return ComplaintPage(
        items=[read_model(c, principal) for c in rows],
        next_cursor=encode_cursor(rows[-1].id) if more else None,
    )


async def _write(
    rt: Runtime, principal: Principal, ticket_no: str, work: Callable[[UnitOfWork], Awaitable[Any]]
) -> ComplaintRead:
    """Run one write on a complaint; a concurrent write to the same complaint → 409."""
    try:
        async with rt.db.uow() as uow:
            await work(uow)
            await uow.commit()
    except StaleDataError as exc:
        raise Problem(
            409, "Concurrent update", f"{ticket_no} changed meanwhile; read it and retry"
        ) from exc
    return await read_one(ticket_no, principal, rt)


async def _command(
    rt: Runtime,
    principal: Principal,
    ticket_no: str,
    command: Command,
    *,
    reason: str | None = None,
    detail: dict[str, object] | None = None,
    satisfied: bool | None = None,
) -> ComplaintRead:
    cmd = handlers.Transition(
        ticket_no=ticket_no,
        command=command,
        actor=principal.sub,
        reason=reason,
        detail={k: v for k, v in (detail or {}).items() if v is not None},
        satisfied=satisfied,
    )

    async def work(uow: UnitOfWork) -> None:
        await handlers.transition(cmd, uow)

    return await _write(rt, principal, ticket_no, work)


@router.post(
    "/{ticket_no}/accept", summary="Accept (received → accepted)", response_model=ComplaintRead
)
async def accept(
    ticket_no: str, principal: Handlers, rt: Rt, body: CommandBody | None = None
) -> ComplaintRead:
    return await _command(rt, principal, ticket_no, "accept", reason=body.note if body else None)


@router.post(
    "/{ticket_no}/start",
    summary="Start work (accepted/reopened → in_progress)",
    response_model=ComplaintRead,
)
async def start(
    ticket_no: str, principal: Handlers, rt: Rt, body: CommandBody | None = None
) -> ComplaintRead:
    return await _command(rt, principal, ticket_no, "start", reason=body.note if body else None)


@router.post(
    "/{ticket_no}/reply", summary="Reply to the customer (→ replied)", response_model=ComplaintRead
)
async def reply(ticket_no: str, body: ReplyBody, principal: Handlers, rt: Rt) -> ComplaintRead:
    return await _command(rt, principal, ticket_no, "reply", detail={"message": body.message})


@router.post(
    "/{ticket_no}/hold",
    summary="Wait on the customer (→ pending, SLA paused)",
    response_model=ComplaintRead,
)
async def hold(ticket_no: str, body: HoldBody, principal: Handlers, rt: Rt) -> ComplaintRead:
    return await _command(rt, principal, ticket_no, "hold", reason=body.reason)


@router.post(
    "/{ticket_no}/resume", summary="Resume a pending complaint", response_model=ComplaintRead
)
async def resume(
    ticket_no: str, principal: Handlers, rt: Rt, body: CommandBody | None = None
) -> ComplaintRead:
    return await _command(rt, principal, ticket_no, "resume", reason=body.note if body else None)


@router.post(
    "/{ticket_no}/resolve",
    summary="Resolve (→ resolved, survey follows)",
    response_model=ComplaintRead,
)
async def resolve(ticket_no: str, body: ResolveBody, principal: Handlers, rt: Rt) -> ComplaintRead:
    return await _command(rt, principal, ticket_no, "resolve", detail=body.model_dump(mode="json"))


@router.post(
    "/{ticket_no}/feedback",
    summary="Record the customer's satisfaction (true closes, false reopens)",
    response_model=ComplaintRead,
)
async def feedback(
    ticket_no: str, body: FeedbackBody, principal: Handlers, rt: Rt
) -> ComplaintRead:
    return await _command(
        rt,
        principal,
        ticket_no,
        "feedback",
        detail=body.model_dump(mode="json"),
        satisfied=body.satisfied,
    )


@router.post(
    "/{ticket_no}/cancel", summary="Cancel (withdrawn or duplicate)", response_model=ComplaintRead
)
async def cancel(ticket_no: str, body: CancelBody, principal: Handlers, rt: Rt) -> ComplaintRead:
    return await _command(rt, principal, ticket_no, "cancel", reason=body.reason)


@router.post(
    "/{ticket_no}/notes",
    status_code=201,
    summary="Add a note (append-only)",
    response_model=ComplaintRead,
)
async def add_note(ticket_no: str, body: NoteBody, principal: Noter, rt: Rt) -> ComplaintRead:
    async def work(uow: UnitOfWork) -> None:
        await handlers.add_note(handlers.AddNote(ticket_no, principal.sub, body.text), uow)

    return await _write(rt, principal, ticket_no, work)


@router.post(
    "/{ticket_no}/reclassify",
    summary="Correct the category (who and why recorded)",
    response_model=ComplaintRead,
)
async def reclassify(
    ticket_no: str, body: ReclassifyBody, principal: Handlers, rt: Rt
) -> ComplaintRead:
    async def work(uow: UnitOfWork) -> None:
        await handlers.reclassify(
            handlers.Reclassify(ticket_no, body.category, principal.sub, body.reason), uow
        )

    return await _write(rt, principal, ticket_no, work)
