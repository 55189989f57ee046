"""Refund HTTP API: request, decide, pay, read, audit. Routes parse, call a handler, shape."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response
from sqlalchemy import select

from services.refund import audit_log, domain, handlers
from services.refund.commands import ApproveRefund, RecordPayout, RejectRefund, RequestRefund
from services.refund.deps import (
    ATTEMPTS,
    CONFLICTS,
    Auditor,
    Billing,
    Reader,
    Requester,
    Rt,
    Rules,
    actor,
    amount_fen,
)
from services.refund.domain import RefundStatus
from services.refund.models import Refund, TicketView
from services.refund.schemas import (
    ApproveBody,
    AuditEntryRead,
    AuditVerification,
    Eligibility,
    PaidBody,
    RefundCreate,
    RefundPage,
    RefundRead,
    RejectBody,
)
from shared.errors import PROBLEM_RESPONSES, NotFound
from shared.pagination import decode_text_cursor, encode_cursor
from shared.service import Runtime
from shared.usecase import IdempotencyKey, run, run_create

router = APIRouter(prefix="/v1/refunds", tags=["refunds"], responses=PROBLEM_RESPONSES)


async def _read(rt: Runtime, refund_id: str) -> RefundRead:
    async with rt.db.sessions() as session:
        refund = await session.get(Refund, refund_id)
    if refund is None:
        raise NotFound(f"no refund {refund_id}")
    return RefundRead.model_validate(refund)


@router.post(
    "",
    status_code=201,
    response_model=RefundRead,
    summary="Request a refund: approved at once within your authority, else pending",
)
async def request_refund(
    body: RefundCreate,
    principal: Requester,
    rt: Rt,
    rules: Rules,
    response: Response,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> RefundRead:
    """The complaint's total (approved, paid and pending refunds plus this one; a double
    refund counts twice) decides who may approve. A retry with the same `Idempotency-Key`
    and body returns the original refund."""
    cmd = RequestRefund(
        ticket_no=body.ticket_no,
        amount_fen=amount_fen(body.amount, "amount", rules),
        kind=body.kind,
        charge_type=body.charge_type,
        reason=body.reason,
        actor=actor(principal),
    )
    created = await run_create(
        rt.idempotent,
        partial(handlers.request_refund, rules=rules),
        cmd,
        idempotency=IdempotencyKey(
            f"refunds:{principal.sub}", idempotency_key, body.model_dump(mode="json")
        ),
        resource_id=lambda refund: refund.id,
        what=f"complaint {body.ticket_no}",
        attempts=ATTEMPTS,
        conflicts=CONFLICTS,
    )
    if created.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/v1/refunds/{created.resource_id}"
    return await _read(rt, created.resource_id)


@router.get("", response_model=RefundPage, summary="List refunds, oldest first")
async def list_refunds(
    _: Reader,
    rt: Rt,
    ticket_no: Annotated[str | None, Query(max_length=32)] = None,
    status: RefundStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> RefundPage:
    query = select(Refund).order_by(Refund.id).limit(limit + 1)
    if ticket_no is not None:
        query = query.where(Refund.ticket_no == ticket_no)
    if status is not None:
        query = query.where(Refund.status == status.value)
    if cursor is not None:
        query = query.where(Refund.id > decode_text_cursor(cursor))
    async with rt.db.sessions() as session:
        rows = list((await session.scalars(query)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return RefundPage(
        items=[RefundRead.model_validate(r) for r in rows],
        next_cursor=encode_cursor(rows[-1].id) if more else None,
    )


@router.get(
    "/audit/verify",
    response_model=AuditVerification,
    summary="Verify the whole audit chain: ok, or the first entry that was changed or removed",
)
async def verify_audit(_: Auditor, rt: Rt, rules: Rules) -> AuditVerification:
    async with rt.db.sessions() as session:
        result, head_seq = await audit_log.verify_chain(session, key=rules.audit_key)
    return AuditVerification(
        ok=result.ok,
        checked=result.checked,
        head_seq=head_seq,
        head_hash=result.head_hash,
        first_bad_seq=result.first_bad_seq,
        defect=None if result.defect is None else result.defect.value,
        detail=result.detail,
    )


@router.get(
    "/tickets/{ticket_no}/eligibility",
    response_model=Eligibility,
    summary="Whether a refund may be requested on a complaint",
)
async def eligibility(ticket_no: str, _: Reader, rt: Rt) -> Eligibility:
    async with rt.db.sessions() as session:
        view = await session.get(TicketView, ticket_no)
    if view is None:
        raise NotFound(f"no complaint {ticket_no} is known to refund")
    return Eligibility(
        ticket_no=ticket_no,
        ticket_status=view.status,
        user_type=view.user_type,
        refundable=domain.refundable(view.status),
    )


@router.get("/{refund_id}", response_model=RefundRead, summary="One refund")
async def get_refund(refund_id: str, _: Reader, rt: Rt) -> RefundRead:
    return await _read(rt, refund_id)


@router.get(
    "/{refund_id}/audit",
    response_model=list[AuditEntryRead],
    summary="The refund's audit entries (who, role, when, amount, before/after, why)",
)
async def refund_audit(refund_id: str, _: Reader, rt: Rt) -> list[AuditEntryRead]:
    async with rt.db.sessions() as session:
        if await session.get(Refund, refund_id) is None:
            raise NotFound(f"no refund {refund_id}")
        rows = await audit_log.entries_of(session, refund_id)
    return [AuditEntryRead.model_validate(r) for r in rows]


@router.post(
    "/{refund_id}/approve",
    response_model=RefundRead,
    summary="Approve a pending refund (403 names the role needed; never its requester)",
)
async def approve(
    refund_id: str, principal: Requester, rt: Rt, rules: Rules, body: ApproveBody | None = None
) -> RefundRead:
    cmd = ApproveRefund(refund_id, actor(principal), body.comment if body else None)
    approve = partial(handlers.approve_refund, rules=rules)
    refund = await run(rt.db, approve, cmd, what=f"refund {refund_id}", conflicts=CONFLICTS)
    return RefundRead.model_validate(refund)


@router.post(
    "/{refund_id}/reject",
    response_model=RefundRead,
    summary="Reject a pending refund (same authority as approving it)",
)
async def reject(
    refund_id: str, body: RejectBody, principal: Requester, rt: Rt, rules: Rules
) -> RefundRead:
    cmd = RejectRefund(refund_id, actor(principal), body.reason)
    reject = partial(handlers.reject_refund, rules=rules)
    refund = await run(rt.db, reject, cmd, what=f"refund {refund_id}", conflicts=CONFLICTS)
    return RefundRead.model_validate(refund)


@router.post(
    "/{refund_id}/paid",
    response_model=RefundRead,
    summary="Record the payout (billing; the same billing_ref again returns the same result)",
)
async def paid(
    refund_id: str, body: PaidBody, principal: Billing, rt: Rt, rules: Rules
) -> RefundRead:
    cmd = RecordPayout(refund_id, body.billing_ref, actor(principal))
    refund = await run(
        rt.db,
        partial(handlers.record_payout, rules=rules),
        cmd,
        what=f"refund {refund_id}",
        attempts=ATTEMPTS,
        conflicts=CONFLICTS,
    )
    return RefundRead.model_validate(refund)
