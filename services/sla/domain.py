"""Glue between a stored clock row and the pure clock math (`clock.py`). No I/O.

"Within N working days of receipt" means: by 24:00 Asia/Shanghai at the end of the Nth
working day after the day of receipt (the receipt day never counts, whether or not it is a
working day). "Within H hours" counts calendar hours from the receipt instant. The
regulator's line (a customer may appeal to 12300 when no reply came within 15 days) is a
clock of 15 calendar days, counted the same way as working days but over every day.
Paused time (waiting on the customer) does not count: a deadline is always recomputed from
the pause/resume log, so pauses, reopening or a calendar reload never lose time.
"""

from __future__ import annotations

from datetime import datetime

from services.sla.calendar import WorkingCalendar
from services.sla.clock import ClockLog, ClockState, Limit, Pause, WarningRule, warning_at
from services.sla.models import Clock


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def log_of(clock: Clock) -> ClockLog:
    return ClockLog(
        clock.started_at,
        tuple(
            Pause(datetime.fromisoformat(str(p)), datetime.fromisoformat(r) if r else None)
            for p, r in clock.pauses
        ),
        clock.met_at,
    )


def store_log(clock: Clock, log: ClockLog) -> None:
    clock.pauses = [[_iso(p.paused_at), _iso(p.resumed_at)] for p in log.pauses]
    clock.met_at = log.met_at


def limit_of(clock: Clock) -> Limit:
    return Limit(clock.limit_unit, clock.limit_amount)  # type: ignore[arg-type]


def refresh(
    clock: Clock, calendar: WorkingCalendar, now: datetime, rule: WarningRule
) -> ClockState:
    """Recompute the derived columns (due, warning, next fire, state) from the log."""
    log = log_of(clock)
    limit = limit_of(clock)
    state = log.state(limit, calendar, now)
    clock.due_at = state.due_at
    clock.provisional = state.provisional
    if clock.state != "cancelled":
        clock.state = state.state
    clock.open = clock.state != "cancelled" and log.met_at is None
    clock.warn_at = warning_at(
        started_at=clock.started_at,
        limit=limit,
        calendar=calendar,
        now=now,
        pauses=log.pauses,
        rule=rule,
    )
    owed: list[datetime] = []
    if clock.open and not log.paused:
        if clock.warned_at is None and clock.warn_at is not None:
            owed.append(clock.warn_at)
        if clock.breached_at is None:
            owed.append(state.due_at)
    clock.next_fire_at = min(owed) if owed else None
    return state
