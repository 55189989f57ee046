"""Refund timers: undecided refunds escalate, SP disputes without proof turn into
provisional refunds. Each fires once across replicas and restarts (shared.scheduler)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update

from services.refund import domain
from services.refund.audit_log import record, snapshot
from services.refund.authority import Role
from services.refund.commands import EscalateRefund, ExpireSpDispute
from services.refund.disputes import expire_sp_dispute
from services.refund.domain import RefundStatus
from services.refund.models import Refund, SpDispute
from services.refund.settings import RefundRules
from shared.db import UnitOfWork
from shared.events import RefundEscalated
from shared.scheduler import FireRow, claim, every, row_timer
from shared.service import Runtime

BATCH = 100


async def escalate_refund(cmd: EscalateRefund, uow: UnitOfWork, rules: RefundRules) -> bool:
    """Escalate an undecided refund whose time ran out; True only for the one winner."""
    refund_id, now = cmd.refund_id, cmd.at
    refund = await uow.session.get(Refund, refund_id)
    if refund is None or refund.escalate_at is None or refund.escalate_at > now:
        return False
    target = domain.escalation_target(Role(refund.required_role))
    won = await claim(
        uow,
        update(Refund)
        .where(
            Refund.id == refund_id,
            Refund.status == RefundStatus.PENDING_APPROVAL.value,
            Refund.escalate_at == refund.escalate_at,
        )
        .values(escalate_at=None, escalated_at=now, escalated_to=target.value)
        .execution_options(synchronize_session=False),
    )
    if not won:
        return False
    before = snapshot(refund)
    await uow.session.refresh(refund)
    uow.publish(
        RefundEscalated(
            ticket_no=refund.ticket_no,
            refund_id=refund.id,
            required_role=target.value,
            waiting_since=refund.requested_at,
            escalated_at=now,
        )
    )
    await record(
        uow,
        rules,
        refund,
        action="escalated",
        actor=domain.SYSTEM_ACTOR,
        role=None,
        at=now,
        before=before,
        reason=f"undecided for {rules.approval_timeout}; {target} informed",
    )
    return True


def timer_commands(rules: RefundRules) -> dict[str, FireRow]:
    """What each due row fires: the row's command, at the scheduler's time, with the rules."""

    async def escalate(uow: UnitOfWork, row_id: Any, now: datetime) -> bool:
        return await escalate_refund(EscalateRefund(row_id, now), uow, rules)

    async def expire(uow: UnitOfWork, row_id: Any, now: datetime) -> bool:
        return await expire_sp_dispute(ExpireSpDispute(row_id, now), uow, rules)

    return {"approval escalation": escalate, "SP proof deadline": expire}


def start_timers(rt: Runtime, rules: RefundRules) -> None:
    """Escalations and SP proof deadlines, each fired once by its indexed due column."""
    fires = timer_commands(rules)
    for name, key, due in (
        ("approval escalation", Refund.id, Refund.escalate_at),
        ("SP proof deadline", SpDispute.id, SpDispute.expire_at),
    ):
        tick, next_due = row_timer(key, due, fires[name], batch=BATCH)
        every(rt, name, tick, next_due=next_due)
