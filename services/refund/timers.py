"""Refund timers: undecided refunds escalate, SP disputes without proof turn into
provisional refunds. Each fires once across replicas and restarts (shared.scheduler)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.orm.exc import StaleDataError

from services.refund import domain
from services.refund.audit_log import record, snapshot
from services.refund.authority import Role
from services.refund.disputes import expire_sp_dispute
from services.refund.domain import RefundStatus
from services.refund.models import Refund, SpDispute
from services.refund.settings import RefundRules
from shared.db import UnitOfWork, utcnow
from shared.events import RefundEscalated
from shared.scheduler import Tick, claim, every
from shared.service import Runtime

log = logging.getLogger(__name__)
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


def _timer(
    key: InstrumentedAttribute[str],
    due: InstrumentedAttribute[datetime | None],
    fire: Fire,
    rules: RefundRules,
) -> Tick:
    """Fire a batch of what is due by the indexed `due` column, each in its own transaction."""

    async def tick(rt: Runtime) -> int:
        now = utcnow()
        async with rt.db.sessions() as session:
            query = select(key).where(due <= now).order_by(due).limit(BATCH)
            ids = list((await session.scalars(query)).all())
        fired = 0
        for row_id in ids:
            try:
                async with rt.db.uow() as uow:
                    if await fire(uow, row_id, rules, now):
                        await uow.commit()
                        fired += 1
            except (DBAPIError, StaleDataError):
                # Lost a race with another replica or a request; the next tick re-reads it.
                log.warning("refund timer: %s not fired this tick", row_id, exc_info=True)
            except Exception:
                # One row that cannot fire must not hold up the others; it is retried.
                log.exception("refund timer: %s failed", row_id)
        return fired

    return tick


def start_timers(rt: Runtime, rules: RefundRules) -> None:
    every(rt, "approval escalation", _timer(Refund.id, Refund.escalate_at, escalate_refund, rules))
    every(
        rt,
        "SP proof deadline",
        _timer(SpDispute.id, SpDispute.expire_at, expire_sp_dispute, rules),
    )
