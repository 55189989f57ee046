"""Refund use cases: the complaint projection, request, approve, reject, payout.

Commands are `async def verb_noun(cmd, uow, rules) -> Refund`: each stages its changes,
events and audit entry in `uow` and raises domain exceptions (`shared.errors`: 404, 409,
403 naming the role, 422); none commits. Routes bind `rules` and run them with
`shared.usecase.run` / `run_create`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from services.refund import domain
from services.refund.audit_log import record, snapshot
from services.refund.authority import (
    AuthorityError,
    AuthorityPolicy,
    FieldError,
    FourEyesViolation,
    authority_base,
    authority_role,
    check_approval,
    decide_on_request,
)
from services.refund.commands import (
    ApproveRefund,
    DecideRefund,
    RecordPayout,
    RejectRefund,
    RequestRefund,
)
from services.refund.domain import RefundStatus
from services.refund.models import ComplaintLedger, Refund, TicketView
from services.refund.settings import RefundRules
from shared.db import UnitOfWork, utcnow
from shared.errors import Conflict, Invalid, NotAllowed, NotFound
from shared.events import (
    RefundApproved,
    RefundPaid,
    RefundRejected,
    RefundRequested,
    TicketReceived,
    TicketStatusChanged,
)


# --- consumed ticket events ---------------------------------------------------------------
async def on_ticket_received(event: TicketReceived, uow: UnitOfWork) -> None:
    """Learn of a complaint and its customer's user type (prepaid matters at the front line)."""
    view = await uow.session.get(TicketView, event.ticket_no)
    if view is None:
        uow.session.add(
            TicketView(
                ticket_no=event.ticket_no,
                status="received",
                user_type=event.user_type,
                received_at=event.received_at,
            )
        )
    else:
        view.user_type = event.user_type


async def on_ticket_status_changed(event: TicketStatusChanged, uow: UnitOfWork) -> None:
    """Follow the complaint's status: closed and cancelled complaints take no refunds."""
    view = await uow.session.get(TicketView, event.ticket_no)
    if view is None:
        uow.session.add(
            TicketView(
                ticket_no=event.ticket_no,
                status=event.to_status,
                user_type=None,
                received_at=event.changed_at,
            )
        )
    else:
        view.status = event.to_status


# --- helpers ------------------------------------------------------------------------------
async def known_ticket(uow: UnitOfWork, ticket_no: str, *, must_be_open: bool = True) -> TicketView:
    """The complaint as refund knows it: 404 if unknown, 409 if closed or cancelled."""
    view = await uow.session.get(TicketView, ticket_no)
    if view is None:
        raise NotFound(f"no complaint {ticket_no} is known to refund")
    if must_be_open and not domain.refundable(view.status):
        raise Conflict(
            title="Complaint not refundable", detail=f"complaint {ticket_no} is {view.status}"
        )
    return view


async def load_refund(uow: UnitOfWork, refund_id: str) -> Refund:
    refund = await uow.session.get(Refund, refund_id)
    if refund is None:
        raise NotFound(f"no refund {refund_id}")
    return refund


async def judged_under(uow: UnitOfWork, refund: Refund, rules: RefundRules) -> AuthorityPolicy:
    """The authority policy a refund was decided under: its approval follows the same rule."""
    return await rules.policies.at_version(uow.session, refund.policy_version)


async def lock_complaint(uow: UnitOfWork, ticket_no: str, now: datetime) -> None:
    """Serialise refund requests on one complaint: lock its ledger row and bump its version
    (a concurrent request either waits for the lock or fails its version check)."""
    ledger = await uow.session.get(ComplaintLedger, ticket_no, with_for_update=True)
    if ledger is None:
        ledger = ComplaintLedger(ticket_no=ticket_no, request_count=0)
        uow.session.add(ledger)
    ledger.request_count += 1
    ledger.last_request_at = now
    await uow.session.flush()


# --- commands -----------------------------------------------------------------------------
async def request_refund(cmd: RequestRefund, uow: UnitOfWork, rules: RefundRules) -> Refund:
    """Approve at once within the requester's authority over this refund (with the same
    requester's recent refunds on the ticket, see `authority_base`), else leave it pending
    for the least role that may approve it."""
    now = cmd.at
    view = await known_ticket(uow, cmd.ticket_no, must_be_open=cmd.dispute_id is None)
    await lock_complaint(uow, cmd.ticket_no, now)
    rows = await uow.session.scalars(select(Refund).where(Refund.ticket_no == cmd.ticket_no))
    # The complaint is judged under the policy in force when it was received.
    version, policy = await rules.policies.versioned(uow.session, view.received_at)
    role = authority_role(cmd.actor.roles, policy)
    # A dispute's provisional refund is for the disputed SP charge (seed 002).
    charge_type = cmd.charge_type or (policy.sp_charge_type if cmd.dispute_id else None)
    try:
        decision = decide_on_request(
            requester_role=role,
            requester_id=cmd.actor.id,
            existing_total=authority_base(
                rows.all(), requester_id=cmd.actor.id, now=now, policy=policy
            ),
            amount=cmd.amount_fen,
            kind=cmd.kind,
            user_type=view.user_type,
            charge_type=charge_type,
            policy=policy,
        )
    except FieldError as exc:
        raise Invalid(exc.field, exc.message) from exc
    refund = Refund(
        id=cmd.refund_id or domain.new_id("RF", now),
        ticket_no=cmd.ticket_no,
        kind=decision.kind.value,
        charge_type=decision.charge_type,
        policy_version=version,
        amount_fen=decision.amount_fen,
        payout_fen=decision.counted_fen,
        total_fen=decision.total_fen,
        user_type=view.user_type,
        status=decision.outcome.value,
        required_role=decision.required_role.value,
        reason=cmd.reason,
        requested_by=cmd.actor.id,
        requested_role=role,
        requested_at=now,
        dispute_id=cmd.dispute_id,
    )
    by_policy = cmd.actor.id == domain.SYSTEM_ACTOR and decision.kind in policy.system_kinds
    if decision.approved:
        _decide(refund, RefundStatus.APPROVED, cmd.actor.id, role, now, "within own authority")
    elif not by_policy:
        refund.escalate_at = now + rules.approval_timeout
    uow.session.add(refund)
    uow.publish(
        RefundRequested(
            ticket_no=refund.ticket_no,
            refund_id=refund.id,
            kind=refund.kind,
            amount_fen=refund.payout_fen,
            status=refund.status,
            required_role=None if decision.approved else refund.required_role,
            requested_by=refund.requested_by,
            requested_at=now,
            charge_type=refund.charge_type,
            tier=refund.required_role,
            tier_limit_fen=policy.limit_of(refund.required_role),
        )
    )
    if decision.approved:
        uow.publish(_approved(refund, policy))
    await record(
        uow,
        rules,
        refund,
        action="requested",
        actor=cmd.actor.id,
        role=role,
        at=now,
        before=None,
        reason=cmd.reason,
    )
    if by_policy:
        approver = policy.system_approver
        before = snapshot(refund)
        _decide(refund, RefundStatus.APPROVED, approver, "system", now, "approved by policy")
        uow.publish(_approved(refund, policy))
        await record(
            uow,
            rules,
            refund,
            action="approved",
            actor=approver,
            role="system",
            at=now,
            before=before,
            reason="system authority for provisional refunds (seed 002, 15 days without proof)",
        )
    return refund


def _decide(
    refund: Refund,
    status: RefundStatus,
    actor: str,
    role: str | None,
    now: datetime,
    note: str | None,
) -> None:
    refund.status = status.value
    refund.decided_by = actor
    refund.decided_role = role
    refund.decided_at = now
    refund.decision_note = note
    refund.escalate_at = None


def _approved(refund: Refund, policy: AuthorityPolicy) -> RefundApproved:
    assert refund.decided_by is not None and refund.decided_at is not None
    return RefundApproved(
        ticket_no=refund.ticket_no,
        refund_id=refund.id,
        kind=refund.kind,
        amount_fen=refund.payout_fen,
        approved_by=refund.decided_by,
        approved_at=refund.decided_at,
        charge_type=refund.charge_type,
        tier=refund.required_role,
        tier_limit_fen=policy.limit_of(refund.required_role),
    )


async def _authorised(uow: UnitOfWork, cmd: DecideRefund, rules: RefundRules) -> Refund:
    """The pending refund, if `cmd.actor` may decide it (four eyes, then authority)."""
    refund = await load_refund(uow, cmd.refund_id)
    try:
        domain.check_decidable(refund.status)
    except domain.Conflict as exc:
        raise Conflict(
            title="Refund already decided", detail=str(exc), status_now=refund.status
        ) from exc
    policy = await judged_under(uow, refund, rules)
    try:
        check_approval(
            approver_role=authority_role(cmd.actor.roles, policy),
            approver_id=cmd.actor.id,
            requester_id=refund.requested_by,
            refund=refund,
            policy=policy,
        )
    except AuthorityError as exc:
        four_eyes = isinstance(exc, FourEyesViolation)
        raise NotAllowed(
            str(exc),
            title="Four-eyes rule" if four_eyes else "Insufficient refund authority",
            required_role=exc.required_role.value,
            rule="four_eyes" if four_eyes else "authority",
        ) from exc
    return refund


async def approve_refund(cmd: ApproveRefund, uow: UnitOfWork, rules: RefundRules) -> Refund:
    refund = await _authorised(uow, cmd, rules)
    now = utcnow()
    policy = await judged_under(uow, refund, rules)
    role = authority_role(cmd.actor.roles, policy)
    before = snapshot(refund)
    _decide(refund, RefundStatus.APPROVED, cmd.actor.id, role, now, cmd.note)
    uow.publish(_approved(refund, policy))
    await record(
        uow,
        rules,
        refund,
        action="approved",
        actor=cmd.actor.id,
        role=role,
        at=now,
        before=before,
        reason=cmd.note or "approved",
    )
    return refund


async def reject_refund(cmd: RejectRefund, uow: UnitOfWork, rules: RefundRules) -> Refund:
    refund = await _authorised(uow, cmd, rules)
    now = utcnow()
    role = authority_role(cmd.actor.roles, await judged_under(uow, refund, rules))
    before = snapshot(refund)
    reason = cmd.note or "rejected"
    _decide(refund, RefundStatus.REJECTED, cmd.actor.id, role, now, reason)
    uow.publish(
        RefundRejected(
            ticket_no=refund.ticket_no,
            refund_id=refund.id,
            rejected_by=cmd.actor.id,
            reason=reason,
            rejected_at=now,
        )
    )
    await record(
        uow,
        rules,
        refund,
        action="rejected",
        actor=cmd.actor.id,
        role=role,
        at=now,
        before=before,
        reason=reason,
    )
    return refund


async def record_payout(cmd: RecordPayout, uow: UnitOfWork, rules: RefundRules) -> Refund:
    """Billing paid an approved refund out. The same billing_ref again is a no-op."""
    refund = await load_refund(uow, cmd.refund_id)
    now = utcnow()
    billing_ref, actor = cmd.billing_ref, cmd.actor
    try:
        new = domain.payout_is_new(refund.status, refund.billing_ref, billing_ref)
    except domain.Conflict as exc:
        raise Conflict(title="Payout conflict", detail=str(exc), status_now=refund.status) from exc
    if not new:
        return refund
    before = snapshot(refund)
    refund.status = RefundStatus.PAID.value
    refund.billing_ref = billing_ref
    refund.paid_by = actor.id
    refund.paid_at = now
    uow.publish(
        RefundPaid(
            ticket_no=refund.ticket_no,
            refund_id=refund.id,
            amount_fen=refund.payout_fen,
            billing_ref=billing_ref,
            paid_at=now,
        )
    )
    await record(
        uow,
        rules,
        refund,
        action="paid",
        actor=actor.id,
        role="billing",
        at=now,
        before=before,
        reason=f"paid out under billing reference {billing_ref}",
    )
    return refund
