"""Becoming major later (seed 004 §3.3: the 200th same-content complaint, the 4th over-level
transfer, an agent's reclassification): the ticket's clocks are planned again under the
major policy of its receipt, keeping when they started and how long they were paused."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.sla import domain
from services.sla.models import Clock
from shared.db import UnitOfWork, utcnow
from shared.errors import NotYet
from shared.events import SlaDeadlinesChanged, TicketMarkedMajor

if TYPE_CHECKING:
    from services.sla.handlers import Sla

# an urgent ticket's limits are already the strictest; a major one is planned already
KEEP = frozenset({"major", "urgent"})


async def replan_major(sla: Sla, event: TicketMarkedMajor, uow: UnitOfWork) -> list[Clock]:
    """Re-plan each open clock under the major limits; start the clocks only major has."""
    from services.sla.handlers import _ordered, published_clock

    clocks = await sla._clocks(uow, event.ticket_no)
    if not clocks:
        raise NotYet(event.ticket_no, "TicketMarkedMajor before the clocks started")
    first = clocks[0]
    if first.severity in KEEP:
        return []  # redelivered, or never less than major
    policy = await sla.policy(uow, first.started_at)
    limits = policy.limits(
        severity="major",
        channel=first.channel,
        category=first.category,
        over_level=first.over_level,
    )
    calendar, now = await sla.calendar(uow), utcnow()
    for clock in clocks:
        clock.severity = "major"
        limit = limits.get(clock.name)
        if clock.open and limit is not None:
            clock.limit_unit, clock.limit_amount = limit.unit, limit.amount
            domain.refresh(clock, calendar, now, sla.rule)
    first.severity = "major"
    have = {c.name for c in clocks}
    added = sla._start(
        first, {k: v for k, v in limits.items() if k not in have}, first.started_at, calendar, now
    )
    uow.session.add_all(added)
    replanned = _ordered([*clocks, *added])
    uow.publish(
        SlaDeadlinesChanged(
            ticket_no=event.ticket_no,
            clocks=[published_clock(c) for c in replanned],
            reason=f"major:{event.reason}",
        )
    )
    return replanned
