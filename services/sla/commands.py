"""SLA's commands: `async def verb_noun(cmd, uow, sla) -> result`.

Each stages its writes and events in `uow` and raises domain exceptions (`shared.errors`);
none commits or speaks HTTP. Routes bind the service's rules (`sla`) and run them with
`shared.usecase.run` / `run_create`, which commit once and map the exceptions to
problem+json. Consumed events are in `handlers.py` (`Sla.on_*`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select

from services.sla import calendar_store, domain
from services.sla.calendar import Day
from services.sla.handlers import Sla, published_clock
from services.sla.models import CalendarChange, CalendarDay, Clock, ClockExtension
from services.sla.policy import ExtensionRefused, check_extension
from shared.auth import Principal
from shared.db import UnitOfWork, utcnow
from shared.errors import Conflict, Invalid, NotAllowed, NotFound
from shared.events import SlaDeadlineExtended, SlaDeadlinesChanged

CALENDAR_YEARS = (2004, 2040)
"""Years an official arrangement may be loaded for: the State Council has published one a
year since 2004 (国务院办公厅关于部分节假日安排的通知); 2040 bounds typos."""


# --- clocks ------------------------------------------------------------------------------
@dataclass(frozen=True)
class RecomputeTicket:
    """Re-apply the policy in force now to a ticket's clocks, keeping its extensions."""

    ticket_no: str
    actor: str


async def recompute_ticket(cmd: RecomputeTicket, uow: UnitOfWork, sla: Sla) -> None:
    clocks = await sla._clocks(uow, cmd.ticket_no)
    if not clocks:
        raise NotFound(f"no clocks for {cmd.ticket_no}")
    first = clocks[0]
    policy = await sla.policy(uow)  # an explicit re-apply: the policy in force now
    extended = dict(
        (
            await uow.session.execute(
                select(ClockExtension.clock, func.sum(ClockExtension.working_days))
                .where(ClockExtension.ticket_no == cmd.ticket_no)
                .group_by(ClockExtension.clock)
            )
        ).all()
    )
    limits = policy.limits(
        severity=first.severity,
        channel=first.channel,
        category=first.category,
        over_level=first.over_level,
    )
    calendar = await sla.calendar(uow)
    now = utcnow()
    for clock in clocks:
        limit = limits.get(clock.name)
        if limit is not None:
            clock.limit_unit = limit.unit
            clock.limit_amount = limit.amount + int(extended.get(clock.name) or 0)
        domain.refresh(clock, calendar, now, sla.rule)
    uow.session.add(
        CalendarChange(action="recompute", target=cmd.ticket_no, actor=cmd.actor, detail={})
    )


@dataclass(frozen=True)
class ExtendClock:
    """延期 (seed 003 §4.1): add working days to an open clock, the reason told to the customer."""

    ticket_no: str
    clock: str
    working_days: int
    reason: str
    actor: Principal


async def extend_clock(cmd: ExtendClock, uow: UnitOfWork, sla: Sla) -> ClockExtension:
    """Within the policy of the ticket's receipt: its roles, severities and maximum."""
    clock = await uow.session.scalar(
        select(Clock)
        .where(Clock.ticket_no == cmd.ticket_no, Clock.name == cmd.clock)
        .with_for_update()
    )
    if clock is None:
        raise NotFound(f"no {cmd.clock} clock for {cmd.ticket_no}")
    if not clock.open:
        raise Conflict(f"the {cmd.clock} clock is {clock.state}", title="Clock stopped")
    policy = await sla.policy(uow, clock.started_at)
    if not cmd.actor.has_any(*policy.extension.roles):
        roles = ", ".join(sorted(policy.extension.roles))
        raise NotAllowed(f"extending needs one of the roles: {roles}")
    already = await uow.session.scalar(
        select(func.coalesce(func.sum(ClockExtension.working_days), 0)).where(
            ClockExtension.ticket_no == cmd.ticket_no, ClockExtension.clock == cmd.clock
        )
    )
    try:
        check_extension(
            policy,
            clock=cmd.clock,
            severity=clock.severity,
            already=int(already or 0),
            working_days=cmd.working_days,
        )
    except ExtensionRefused as exc:
        raise Invalid(exc.field, exc.message) from exc
    if clock.limit_unit != "working_days":
        raise Invalid("clock", "only working-day limits can be extended")
    now = utcnow()
    calendar = await sla.calendar(uow)
    old_due = clock.due_at
    clock.limit_amount += cmd.working_days
    domain.refresh(clock, calendar, now, sla.rule)
    row = ClockExtension(
        ticket_no=cmd.ticket_no,
        clock=cmd.clock,
        working_days=cmd.working_days,
        reason=cmd.reason,
        extended_by=cmd.actor.sub,
        extended_at=now,
        old_due_at=old_due,
        new_due_at=clock.due_at,
    )
    uow.session.add(row)
    await uow.session.flush()
    uow.publish(
        SlaDeadlineExtended(
            ticket_no=cmd.ticket_no,
            clock=cmd.clock,
            old_due_at=old_due,
            new_due_at=clock.due_at,
            provisional=clock.provisional,
            working_days=cmd.working_days,
            reason=cmd.reason,
            extended_by=cmd.actor.sub,
            extended_at=now,
        )
    )
    clocks = await sla._clocks(uow, cmd.ticket_no)
    uow.publish(
        SlaDeadlinesChanged(
            ticket_no=cmd.ticket_no,
            clocks=[published_clock(c) for c in clocks],
            reason=f"extension:{cmd.clock}",
        )
    )
    return row


# --- calendar ----------------------------------------------------------------------------
@dataclass(frozen=True)
class OfficialDay:
    date: date
    name: str | None


@dataclass(frozen=True)
class LoadYear:
    """Replace a year's official holidays and make-up working days (调休)."""

    year: int
    holidays: list[OfficialDay]
    workdays: list[OfficialDay]
    actor: str
    detail: dict[str, object]
    """The request as received, kept in the audit row."""


async def load_year(cmd: LoadYear, uow: UnitOfWork, sla: Sla) -> tuple[int, int]:
    """Every open deadline touching the year is recomputed (`SlaDeadlinesChanged`); returns
    (days loaded, tickets recomputed)."""
    low, high = CALENDAR_YEARS
    if not low <= cmd.year <= high:
        raise Invalid("year", f"must be within {low}-{high}")
    days: list[Day] = []
    seen: set[date] = set()
    for field, entries, workday in (
        ("holidays", cmd.holidays, False),
        ("workdays", cmd.workdays, True),
    ):
        for i, e in enumerate(entries):
            if e.date.year not in (cmd.year, cmd.year - 1, cmd.year + 1):
                raise Invalid(f"{field}.{i}.date", f"not in or next to {cmd.year}")
            if e.date in seen:
                raise Invalid(f"{field}.{i}.date", "listed twice")
            if workday and e.date.weekday() < 5:
                raise Invalid(f"{field}.{i}.date", "a make-up working day falls on a weekend")
            seen.add(e.date)
            days.append(Day(e.date, workday, "official", e.name))
    await calendar_store.replace_year(uow.session, cmd.year, days, cmd.actor)
    uow.session.add(
        CalendarChange(action="load_year", target=str(cmd.year), actor=cmd.actor, detail=cmd.detail)
    )
    await uow.session.flush()
    moved = await sla.recompute_touching(
        uow, date(cmd.year, 1, 1), date(cmd.year, 12, 31), reason=f"calendar:{cmd.year}"
    )
    return len(days), moved


@dataclass(frozen=True)
class OverrideDay:
    """Make one day a working day or not (a local arrangement), audited with before/after."""

    day: date
    workday: bool
    note: str | None
    actor: str


async def override_day(cmd: OverrideDay, uow: UnitOfWork, sla: Sla) -> None:
    existing = await uow.session.get(CalendarDay, (cmd.day, "override"))
    before = None if existing is None else {"workday": existing.workday, "note": existing.note}
    if existing is None:
        uow.session.add(
            CalendarDay(day=cmd.day, source="override", workday=cmd.workday, note=cmd.note)
        )
    else:
        existing.workday, existing.note = cmd.workday, cmd.note
    uow.session.add(
        CalendarChange(
            action="override",
            target=cmd.day.isoformat(),
            actor=cmd.actor,
            detail={"before": before, "after": {"workday": cmd.workday, "note": cmd.note}},
        )
    )
    await uow.session.flush()
    await sla.recompute_touching(uow, cmd.day, cmd.day, reason=f"override:{cmd.day.isoformat()}")
