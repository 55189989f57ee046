"""SLA clocks as pure functions of their log: deadline, state, warning, policy. No I/O.

All instants are aware datetimes, returned in UTC; business days are Asia/Shanghai days
(no daylight saving there since 1991, so every day is 24 hours).

Definitions
-----------
* **Effective time** is what a clock consumes. It runs from the clock's *origin*, stops
  while the clock is paused, and depends on the limit's unit:

  - ``minutes`` and ``hours``: every instant counts; the origin is the receipt instant. "Within H
    hours" is therefore H calendar hours after receipt, plus paused time.
  - ``working_days``: only instants on Asia/Shanghai working days count, each working
    day whole (00:00-24:00, not office hours); the origin is 00:00 of the day after the
    receipt day, so the receipt day never counts, working day or not. "Within N working
    days of receipt" is therefore the end (24:00, i.e. 00:00 of the next day) of the Nth
    working day after the receipt day.
  - ``calendar_days``: every instant counts, origin as for working days: the end of the
    Nth calendar day after the receipt day.

* The **budget** is ``amount`` hours or ``amount`` whole days of effective time. ``due_at``
  is the earliest instant at which effective time reaches the budget. Paused working time
  thus extends a working-day deadline by exactly that much working time (a pause from
  Tuesday 10:00 to Wednesday 10:00 adds one working day; a pause over a weekend adds
  nothing; a two-hour pause on a working day moves 24:00 to 02:00 of the next working
  day).
* The **log** is the start, the pause intervals and the time the clock was met. A reopen
  turns the met instant into a pause that ends at the reopen, so the clock resumes where it
  stopped. Nothing is stored incrementally: the deadline is derived from the log with the
  calendar given, so several pauses, reopens or a changed calendar never lose time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, NamedTuple

from services.sla.calendar import WorkingCalendar
from shared.time import SHANGHAI

DAY = dt.timedelta(days=1)
ZERO = dt.timedelta(0)

LimitUnit = Literal["minutes", "hours", "working_days", "calendar_days"]
Severity = Literal["normal", "urgent", "major"]
ClockStatus = Literal["running", "paused", "met", "breached"]


@dataclass(frozen=True, slots=True)
class Limit:
    """A time limit: ``amount`` minutes, hours, working days or calendar days."""

    unit: LimitUnit
    amount: int

    def __post_init__(self) -> None:
        if self.amount <= 0:
            raise ValueError("a limit must be positive")

    @property
    def budget(self) -> dt.timedelta:
        """The effective time the limit allows."""
        if self.unit == "minutes":
            return dt.timedelta(minutes=self.amount)
        return dt.timedelta(hours=self.amount) if self.unit == "hours" else self.amount * DAY


class Pause(NamedTuple):
    """One stretch during which the clock did not run; open while ``resumed_at`` is None."""

    paused_at: dt.datetime
    resumed_at: dt.datetime | None = None


Interval = tuple[dt.datetime, dt.datetime | None]


def _utc(instant: dt.datetime) -> dt.datetime:
    if instant.utcoffset() is None:
        raise ValueError(f"naive datetime {instant}; clocks need aware datetimes")
    return instant.astimezone(dt.UTC)


def _local_date(instant: dt.datetime) -> dt.date:
    return instant.astimezone(SHANGHAI).date()


def _midnight(day: dt.date) -> dt.datetime:
    """00:00 Asia/Shanghai on ``day``, as UTC."""
    return dt.datetime.combine(day, dt.time(), tzinfo=SHANGHAI).astimezone(dt.UTC)


def clock_origin(started_at: dt.datetime, unit: LimitUnit) -> dt.datetime:
    """Where effective time starts: receipt for hours, the next local midnight for days."""
    start = _utc(started_at)
    return start if unit in ("minutes", "hours") else _midnight(_local_date(start) + DAY)


def working_time(calendar: WorkingCalendar, start: dt.datetime, end: dt.datetime) -> dt.timedelta:
    """The part of [start, end) lying on working days: both ends plus whole days between."""
    start, end = _utc(start), _utc(end)
    if end <= start:
        return ZERO
    first, last = _local_date(start), _local_date(end)
    if first == last:
        return end - start if calendar.is_workday(first) else ZERO
    head = _midnight(first + DAY) - start if calendar.is_workday(first) else ZERO
    tail = end - _midnight(last) if calendar.is_workday(last) else ZERO
    between = calendar.working_days_between(first, last - DAY)
    return head + between * DAY + tail


def add_working_time(
    calendar: WorkingCalendar, start: dt.datetime, amount: dt.timedelta
) -> dt.datetime:
    """The earliest instant at which ``amount`` of working time has passed since ``start``."""
    start = _utc(start)
    if amount <= ZERO:
        return start
    first = _local_date(start)
    if calendar.is_workday(first):
        head = _midnight(first + DAY) - start
        if amount <= head:
            return start + amount
        amount -= head
    whole, rest = divmod(amount, DAY)
    if not rest:
        return _midnight(calendar.nth_workday_after(first, whole) + DAY)
    return _midnight(calendar.nth_workday_after(first, whole + 1)) + rest


def _merge(pauses: Iterable[tuple[dt.datetime, dt.datetime | None]]) -> list[Interval]:
    """Pause intervals sorted, validated and merged where they overlap; open ones last."""
    items = sorted(
        ((_utc(p), None if r is None else _utc(r)) for p, r in pauses), key=lambda i: i[0]
    )
    merged: list[Interval] = []
    for paused, resumed in items:
        if resumed is not None and resumed < paused:
            raise ValueError(f"resumed at {resumed} before pausing at {paused}")
        if merged and (merged[-1][1] is None or paused <= merged[-1][1]):
            previous = merged[-1]
            end = None if previous[1] is None or resumed is None else max(previous[1], resumed)
            merged[-1] = (previous[0], end)
        else:
            merged.append((paused, resumed))
    return merged


@dataclass(frozen=True, slots=True)
class _Timeline:
    """Running intervals of one clock; an open pause is taken as resumed at ``resume_at``."""

    limit: Limit
    calendar: WorkingCalendar
    segments: tuple[Interval, ...]

    @classmethod
    def build(
        cls,
        limit: Limit,
        calendar: WorkingCalendar,
        origin: dt.datetime,
        pauses: list[Interval],
        resume_at: dt.datetime,
    ) -> _Timeline:
        segments: list[Interval] = []
        cursor = origin
        for paused, resumed in pauses:
            end = resumed if resumed is not None else max(resume_at, paused)
            if end <= cursor:
                continue
            if paused > cursor:
                segments.append((cursor, paused))
            cursor = end
        segments.append((cursor, None))
        return cls(limit, calendar, tuple(segments))

    def _measure(self, start: dt.datetime, end: dt.datetime) -> dt.timedelta:
        if self.limit.unit == "working_days":
            return working_time(self.calendar, start, end)
        return max(end - start, ZERO)

    def _advance(self, start: dt.datetime, amount: dt.timedelta) -> dt.datetime:
        if self.limit.unit == "working_days":
            return add_working_time(self.calendar, start, amount)
        return start + max(amount, ZERO)

    def elapsed(self, at: dt.datetime) -> dt.timedelta:
        """Effective time consumed by ``at``."""
        return sum(
            (self._measure(s, at if e is None else min(e, at)) for s, e in self.segments if s < at),
            ZERO,
        )

    def reach(self, amount: dt.timedelta) -> dt.datetime:
        """The earliest instant at which effective time reaches ``amount``."""
        used = ZERO
        for start, end in self.segments:
            span = None if end is None else self._measure(start, end)
            if span is None or used + span >= amount:
                return self._advance(start, amount - used)
            used += span
        raise AssertionError("the last segment is open-ended")


@dataclass(frozen=True, slots=True)
class ClockState:
    """A clock as of ``now``. ``elapsed``/``remaining`` are effective time (see module doc)."""

    state: ClockStatus
    due_at: dt.datetime
    elapsed: dt.timedelta
    remaining: dt.timedelta
    elapsed_fraction: float
    provisional: bool


def clock_state(
    *,
    started_at: dt.datetime,
    limit: Limit,
    calendar: WorkingCalendar,
    now: dt.datetime,
    pauses: Iterable[tuple[dt.datetime, dt.datetime | None]] = (),
    met_at: dt.datetime | None = None,
) -> ClockState:
    """Derive a clock's state from its log.

    While paused, ``due_at`` is the deadline if the clock were resumed at ``now``; for a met
    clock it is the deadline in force when it was met. A met clock is ``met`` if it was met
    by ``due_at``, else ``breached``; an open clock is ``breached`` once ``now`` is past
    ``due_at`` (even while paused, even on a day off), else ``running`` or ``paused``.
    ``remaining`` goes negative once effective time exceeds the budget.
    """
    now = _utc(now)
    met = None if met_at is None else _utc(met_at)
    reference = now if met is None else met
    merged = _merge(pauses)
    origin = clock_origin(started_at, limit.unit)
    timeline = _Timeline.build(limit, calendar, origin, merged, reference)
    due_at = timeline.reach(limit.budget)
    elapsed = timeline.elapsed(reference)
    paused = bool(merged) and merged[-1][1] is None and merged[-1][0] <= now
    state: ClockStatus
    if met is not None:
        state = "met" if met <= due_at else "breached"
    elif now > due_at:
        state = "breached"
    else:
        state = "paused" if paused else "running"
    return ClockState(
        state=state,
        due_at=due_at,
        elapsed=elapsed,
        remaining=limit.budget - elapsed,
        elapsed_fraction=elapsed / limit.budget,
        provisional=_provisional(calendar, limit, started_at, due_at),
    )


def _provisional(
    calendar: WorkingCalendar, limit: Limit, started_at: dt.datetime, due_at: dt.datetime
) -> bool:
    if limit.unit != "working_days":
        return False
    # The last day that counts is the one ending at (or containing) due_at.
    last = _local_date(due_at - dt.timedelta(microseconds=1))
    return calendar.range_is_provisional(_local_date(started_at), last)


@dataclass(frozen=True, slots=True)
class WarningRule:
    """Warn at ``fraction`` of the budget, or ``working_days_before_due`` working days of
    effective time before due (working-day limits only), whichever comes first."""

    fraction: float | None = 0.75
    working_days_before_due: int | None = 1


DEFAULT_WARNING = WarningRule()


def warning_at(
    *,
    started_at: dt.datetime,
    limit: Limit,
    calendar: WorkingCalendar,
    now: dt.datetime,
    pauses: Iterable[tuple[dt.datetime, dt.datetime | None]] = (),
    rule: WarningRule = DEFAULT_WARNING,
) -> dt.datetime | None:
    """The instant the warning is due (pauses shift it like the deadline); None if no rule."""
    thresholds: list[dt.timedelta] = []
    if rule.fraction is not None:
        thresholds.append(limit.budget * rule.fraction)
    if rule.working_days_before_due is not None and limit.unit == "working_days":
        thresholds.append(max(limit.budget - rule.working_days_before_due * DAY, ZERO))
    if not thresholds:
        return None
    origin = clock_origin(started_at, limit.unit)
    timeline = _Timeline.build(limit, calendar, origin, _merge(pauses), _utc(now))
    return timeline.reach(min(thresholds))


@dataclass(frozen=True, slots=True)
class ClockLog:
    """The events of one clock; every transition returns a new log."""

    started_at: dt.datetime
    pauses: tuple[Pause, ...] = ()
    met_at: dt.datetime | None = None

    @property
    def paused(self) -> bool:
        return bool(self.pauses) and self.pauses[-1].resumed_at is None

    def pause(self, at: dt.datetime) -> ClockLog:
        if self.met_at is not None or self.paused:
            raise ValueError("only a running clock can be paused")
        return ClockLog(self.started_at, (*self.pauses, Pause(at)), None)

    def resume(self, at: dt.datetime) -> ClockLog:
        if not self.paused:
            raise ValueError("only a paused clock can be resumed")
        return ClockLog(self.started_at, (*self.pauses[:-1], Pause(self.pauses[-1][0], at)))

    def meet(self, at: dt.datetime) -> ClockLog:
        """Stop the clock because its goal was reached (closing any open pause at ``at``)."""
        if self.met_at is not None:
            raise ValueError("clock already met")
        log = self.resume(at) if self.paused else self
        return ClockLog(log.started_at, log.pauses, at)

    def reopen(self, at: dt.datetime) -> ClockLog:
        """Resume a met clock: the time between meeting and reopening becomes a pause."""
        if self.met_at is None:
            raise ValueError("only a met clock can be reopened")
        return ClockLog(self.started_at, (*self.pauses, Pause(self.met_at, at)))

    def state(self, limit: Limit, calendar: WorkingCalendar, now: dt.datetime) -> ClockState:
        return clock_state(
            started_at=self.started_at,
            limit=limit,
            calendar=calendar,
            now=now,
            pauses=self.pauses,
            met_at=self.met_at,
        )
