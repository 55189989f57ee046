"""Refund timers: undecided refunds escalate, SP disputes without proof turn into
provisional refunds. Each fires once across replicas and restarts (shared.scheduler)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import update

from services.refund import domain
from services.refund.audit_log import record, snapshot
from services.refund.authority import Role
from services.refund.disputes import expire_sp_dispute
from services.refund.domain import RefundStatus
from services.refund.models import Refund, SpDispute
from services.refund.settings import RefundRules
from shared.db import UnitOfWork
from shared.events import RefundEscalated
from shared.scheduler import FireRow, claim, every, row_timer
from shared.service import Runtime

BATCH = 100
Fire = Callable[[UnitOfWork, str, RefundRules, datetime], Awaitable[bool]]


async def escalate_refund(
    uow: UnitOfWork, refund_id: str, rules: RefundRules, now: datetime
) -> bool:
    """Escalate an undecided refund whose time ran out; True only for the one winner."""
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


def start_timers(rt: Runtime, rules: RefundRules) -> None:
    """Escalations and SP proof deadlines, each fired once by its indexed due column."""
    for name, key, due, fire in (
        ("approval escalation", Refund.id, Refund.escalate_at, escalate_refund),
        ("SP proof deadline", SpDispute.id, SpDispute.expire_at, expire_sp_dispute),
    ):
        tick, next_due = row_timer(key, due, _with_rules(fire, rules), batch=BATCH)
        every(rt, name, tick, next_due=next_due)


def _with_rules(fire: Fire, rules: RefundRules) -> FireRow:
    async def fire_row(uow: UnitOfWork, row_id: Any, now: datetime) -> bool:
        return await fire(uow, row_id, rules, now)

    return fire_row
