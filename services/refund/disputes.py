"""SP charge disputes (seed 002): the SP has a window to prove the subscription; without
proof by the deadline a provisional refund is requested automatically, exactly once.

Commands have the shape `verb_noun(cmd, uow[, rules])` (see `handlers.py`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Update, select, update

from services.refund import domain
from services.refund.authority import RefundKind
from services.refund.commands import (
    SYSTEM,
    ExpireSpDispute,
    OpenSpDispute,
    RecordSpProof,
    RequestRefund,
)
from services.refund.domain import DisputeStatus
from services.refund.handlers import known_ticket, request_refund
from services.refund.models import SpDispute
from services.refund.settings import RefundRules
from shared.db import UnitOfWork, utcnow
from shared.errors import Conflict, NotAllowed, NotFound
from shared.events import SpChargeHeld, SpDisputeClosed, SpDisputeOpened
from shared.money import format_fen
from shared.scheduler import claim


async def load_dispute(uow: UnitOfWork, dispute_id: str) -> SpDispute:
    dispute = await uow.session.get(SpDispute, dispute_id)
    if dispute is None:
        raise NotFound(f"no SP dispute {dispute_id}")
    return dispute


async def open_sp_dispute(cmd: OpenSpDispute, uow: UnitOfWork, rules: RefundRules) -> SpDispute:
    """Open the proof window on a disputed SP charge (one open dispute per complaint and SP)."""
    now = utcnow()
    await known_ticket(uow, cmd.ticket_no)
    already = await uow.session.scalar(
        select(SpDispute.id).where(
            SpDispute.ticket_no == cmd.ticket_no,
            SpDispute.sp_code == cmd.sp_code,
            SpDispute.status == DisputeStatus.OPEN.value,
        )
    )
    if already is not None:
        raise Conflict(
            title="Dispute already open",
            detail=f"dispute {already} on {cmd.sp_code} is open",
            id=already,
        )
    due = now + rules.proof_window
    dispute = SpDispute(
        id=domain.new_id("SP", now),
        ticket_no=cmd.ticket_no,
        sp_code=cmd.sp_code,
        charge_amount_fen=cmd.charge_amount_fen,
        paid=cmd.paid,
        reason=cmd.reason,
        status=DisputeStatus.OPEN.value,
        opened_by=cmd.actor.id,
        opened_at=now,
        proof_due_at=due,
        expire_at=due,
    )
    uow.session.add(dispute)
    uow.publish(
        SpDisputeOpened(
            ticket_no=dispute.ticket_no,
            dispute_id=dispute.id,
            sp_code=dispute.sp_code,
            charge_amount_fen=dispute.charge_amount_fen,
            proof_due_at=due,
        )
    )
    if not cmd.paid:
        uow.publish(
            SpChargeHeld(
                ticket_no=dispute.ticket_no,
                dispute_id=dispute.id,
                sp_code=dispute.sp_code,
                amount_fen=dispute.charge_amount_fen,
                held_at=now,
            )
        )
    return dispute


def _close(dispute_id: str, status: DisputeStatus, now: datetime, **values: object) -> Update:
    """The compare-and-set that closes an open dispute (only one closer wins)."""
    return (
        update(SpDispute)
        .where(SpDispute.id == dispute_id, SpDispute.status == DisputeStatus.OPEN.value)
        .values(status=status.value, expire_at=None, closed_at=now, **values)
        .execution_options(synchronize_session=False)
    )


async def record_sp_proof(cmd: RecordSpProof, uow: UnitOfWork) -> SpDispute:
    """The SP proved the charge in time: the dispute closes and nothing is refunded. Only
    the partner that speaks for the dispute's SP code may prove it (no other partner, no
    member of staff): a proof cancels the customer's provisional refund."""
    now = utcnow()
    dispute = await load_dispute(uow, cmd.dispute_id)
    if dispute.sp_code not in cmd.sp_codes:
        raise NotAllowed(
            "only the partner of the SP this dispute names may prove the charge",
            rule="sp_proof_by_own_sp",
        )
    try:
        domain.check_proof_in_time(dispute.status, dispute.proof_due_at, now)
        values = {"proof_ref": cmd.proof_ref, "proof_note": cmd.note, "closed_by": cmd.actor.id}
        if not await claim(uow, _close(dispute.id, DisputeStatus.PROVEN, now, **values)):
            raise domain.Conflict("the dispute was closed meanwhile")
    except domain.Conflict as exc:
        raise Conflict(title="Dispute closed", detail=str(exc)) from exc
    uow.publish(
        SpDisputeClosed(
            ticket_no=dispute.ticket_no,
            dispute_id=dispute.id,
            outcome="proven",
            closed_at=now,
        )
    )
    await uow.session.refresh(dispute)
    return dispute


async def expire_sp_dispute(cmd: ExpireSpDispute, uow: UnitOfWork, rules: RefundRules) -> bool:
    """No proof by the deadline: request the provisional refund. True only for the winner."""
    now = cmd.at
    dispute = await uow.session.get(SpDispute, cmd.dispute_id)
    if dispute is None or dispute.expire_at is None or dispute.expire_at > now:
        return False
    if not dispute.paid:
        # Unpaid: the held charge is simply never collected; no refund, no authority.
        if not await claim(
            uow, _close(dispute.id, DisputeStatus.NOT_COLLECTED, now, closed_by=SYSTEM.id)
        ):
            return False
        uow.publish(
            SpDisputeClosed(
                ticket_no=dispute.ticket_no,
                dispute_id=dispute.id,
                outcome="not_collected",
                closed_at=now,
            )
        )
        return True
    refund_id = domain.new_id("RF", now)
    closing = _close(
        dispute.id, DisputeStatus.PROVISIONAL_REFUND, now, closed_by=SYSTEM.id, refund_id=refund_id
    )
    if not await claim(uow, closing):
        return False
    charge = format_fen(dispute.charge_amount_fen)
    await request_refund(
        RequestRefund(
            ticket_no=dispute.ticket_no,
            amount_fen=dispute.charge_amount_fen,
            kind=RefundKind.PROVISIONAL,
            reason=f"SP {dispute.sp_code} gave no proof of the {charge} CNY charge in time",
            actor=SYSTEM,
            refund_id=refund_id,
            dispute_id=dispute.id,
            at=now,
        ),
        uow,
        rules,
    )
    uow.publish(
        SpDisputeClosed(
            ticket_no=dispute.ticket_no,
            dispute_id=dispute.id,
            outcome="provisional_refund",
            refund_id=refund_id,
            closed_at=now,
        )
    )
    return True
