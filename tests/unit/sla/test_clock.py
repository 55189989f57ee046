"""SLA clocks: deadlines by hand-counted calendars, pauses, reopen, warnings."""

from __future__ import annotations

import datetime as dt
import random
from zoneinfo import ZoneInfo

import pytest

from services.sla.calendar import Day, WorkingCalendar, default_calendar
from services.sla.clock import (
    ClockLog,
    Limit,
    WarningRule,
    add_working_time,
    clock_state,
    warning_at,
    working_time,
)

SH = ZoneInfo("Asia/Shanghai")
H = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
ACCEPTANCE = Limit("hours", 24)
FIRST_REPLY = Limit("working_days", 7)
RESOLUTION = Limit("working_days", 20)
REGULATOR = Limit("calendar_days", 15)

# Received on Friday 2026-09-25, the first day of the Mid-Autumn holiday.
AUTUMN = dt.datetime(2026, 9, 25, 15, tzinfo=SH)


def sh(month: int, day: int, hour: int = 0, minute: int = 0, year: int = 2026) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=SH)


def due(
    started_at: dt.datetime,
    limit: Limit,
    calendar: WorkingCalendar | None = None,
    pauses: list[tuple[dt.datetime, dt.datetime | None]] | None = None,
) -> dt.datetime:
    state = clock_state(
        started_at=started_at,
        limit=limit,
        calendar=calendar or default_calendar(),
        now=started_at,
        pauses=pauses or [],
    )
    return state.due_at


def test_autumn_2026_receipt_gets_deadlines_counted_over_both_holidays() -> None:
    # Acceptance: 24 calendar hours -> Sat 26 Sep 15:00.
    assert due(AUTUMN, ACCEPTANCE) == sh(9, 26, 15)
    # Working days after Fri 25 Sep (25-27 Sep and 1-7 Oct off, Sat 10 Oct on):
    # 1 Mon 28 Sep, 2 Tue 29, 3 Wed 30, 4 Thu 8 Oct, 5 Fri 9, 6 Sat 10, 7 Mon 12
    # -> first reply by the end of Mon 12 Oct = 00:00 Tue 13 Oct (16:00 UTC on the 12th).
    assert due(AUTUMN, FIRST_REPLY) == sh(10, 13)
    assert due(AUTUMN, FIRST_REPLY) == dt.datetime(2026, 10, 12, 16, tzinfo=dt.UTC)
    # 8 Tue 13, 9 Wed 14, 10 Thu 15, 11 Fri 16, 12-16 Mon 19 - Fri 23,
    # 17 Mon 26, 18 Tue 27, 19 Wed 28, 20 Thu 29 -> resolution by 00:00 Fri 30 Oct.
    assert due(AUTUMN, RESOLUTION) == sh(10, 30)
    # Regulator line: 15 calendar days after the receipt day, 26 Sep .. 10 Oct.
    assert due(AUTUMN, REGULATOR) == sh(10, 11)


def test_spring_festival_2026_receipt() -> None:
    received = sh(2, 13, 10)  # Friday before the festival
    assert due(received, ACCEPTANCE) == sh(2, 14, 10)
    # 1 Sat 14 Feb (make-up), 15-23 Feb off, 2 Tue 24, 3 Wed 25, 4 Thu 26, 5 Fri 27,
    # 6 Sat 28 (make-up), 7 Mon 2 Mar -> by 00:00 Tue 3 Mar.
    assert due(received, FIRST_REPLY) == sh(3, 3)
    # 8 Tue 3, 9 Wed 4, 10 Thu 5, 11 Fri 6, 12-16 Mon 9 - Fri 13, 17 Mon 16,
    # 18 Tue 17, 19 Wed 18, 20 Thu 19 -> by 00:00 Fri 20 Mar.
    assert due(received, RESOLUTION) == sh(3, 20)


def test_the_receipt_day_never_counts_whatever_the_hour_or_the_zone() -> None:
    # Mon 28 Sep is a working day but does not count: 1 Tue 29 .. 7 Tue 13 Oct.
    assert due(sh(9, 28, 0, 1), FIRST_REPLY) == sh(10, 14)
    assert due(sh(9, 28, 23, 59), FIRST_REPLY) == sh(10, 14)
    # 17:30 UTC on Sun 27 Sep is already 01:30 Mon 28 Sep in Shanghai.
    assert due(dt.datetime(2026, 9, 27, 17, 30, tzinfo=dt.UTC), FIRST_REPLY) == sh(10, 14)
    # Received on the holiday Sunday 27 Sep: same count as from Friday 25 Sep.
    assert due(sh(9, 27, 10), FIRST_REPLY) == sh(10, 13)


def test_a_deadline_ending_on_new_years_eve_is_not_provisional() -> None:
    # Tue 22 Dec 2026: 1 Wed 23 .. 7 Thu 31 Dec -> by 00:00 1 Jan 2027 (nothing of 2027 counted).
    state = clock_state(
        started_at=sh(12, 22, 9), limit=FIRST_REPLY, calendar=default_calendar(), now=sh(12, 22, 9)
    )
    assert state.due_at == sh(1, 1, year=2027)
    assert not state.provisional


def test_resolution_into_unpublished_2027_is_provisional_until_the_year_is_loaded() -> None:
    received = sh(12, 20, 10)  # Sunday
    calendar = default_calendar()
    first = clock_state(started_at=received, limit=FIRST_REPLY, calendar=calendar, now=received)
    # 1 Mon 21 .. 5 Fri 25, 6 Mon 28, 7 Tue 29 Dec -> 00:00 Wed 30 Dec, all in 2026.
    assert (first.due_at, first.provisional) == (sh(12, 30), False)
    before = clock_state(started_at=received, limit=RESOLUTION, calendar=calendar, now=received)
    # Provisional 2027 = weekends + 1 Jan only: 8 Wed 30, 9 Thu 31, (Fri 1 Jan off),
    # 10-14 Mon 4 - Fri 8, 15-19 Mon 11 - Fri 15, 20 Mon 18 -> 00:00 Tue 19 Jan 2027.
    assert (before.due_at, before.provisional) == (sh(1, 19, year=2027), True)

    # A made-up official 2027: New Year 1-3 Jan off, Saturday 9 Jan a make-up working day.
    official_2027 = calendar.with_official_year(
        2027,
        [
            *(Day(dt.date(2027, 1, d), False, "official", "New Year's Day") for d in (1, 2, 3)),
            Day(dt.date(2027, 1, 9), True, "official", "New Year's Day"),
        ],
    )
    after = clock_state(started_at=received, limit=RESOLUTION, calendar=official_2027, now=received)
    # 8 Wed 30, 9 Thu 31, 10-14 Mon 4 - Fri 8, 15 Sat 9, 16-19 Mon 11 - Thu 14,
    # 20 Fri 15 -> 00:00 Sat 16 Jan 2027.
    assert (after.due_at, after.provisional) == (sh(1, 16, year=2027), False)


def test_two_pauses_give_back_exactly_the_working_time_they_took() -> None:
    pauses: list[tuple[dt.datetime, dt.datetime | None]] = [
        (sh(9, 29, 10), sh(9, 30, 10)),  # 24 h of working time
        (sh(10, 8, 18), sh(10, 8, 22)),  # 4 h
    ]
    # Effective by the end of Tue 13 Oct: 28 Sep 24 h + 29-30 Sep 24 h + 8 Oct 20 h
    # + 9, 10, 12, 13 Oct 96 h = 164 h; 4 h more of Wed 14 Oct -> 04:00 on the 14th.
    assert due(AUTUMN, FIRST_REPLY, pauses=pauses) == sh(10, 14, 4)
    # The log is data: order and overlaps do not change the answer.
    shuffled = [pauses[1], (sh(9, 29, 12), sh(9, 30, 9)), pauses[0]]
    assert due(AUTUMN, FIRST_REPLY, pauses=shuffled) == sh(10, 14, 4)


def test_a_pause_over_a_weekend_costs_nothing_unless_the_weekend_is_worked() -> None:
    # Sat 17 - Sun 18 Oct are ordinary days off: the resolution deadline stays.
    assert due(AUTUMN, RESOLUTION, pauses=[(sh(10, 17, 9), sh(10, 19))]) == sh(10, 30)
    # Fri 9 Oct 12:00 - Mon 12 Oct 12:00 covers the make-up Saturday: 12 + 24 + 12 h =
    # 2 working days, so first reply moves from the end of Mon 12 to the end of Wed 14.
    assert due(AUTUMN, FIRST_REPLY, pauses=[(sh(10, 9, 12), sh(10, 12, 12))]) == sh(10, 15)
    # Hour limits count every hour: a 2 h pause moves acceptance by 2 h.
    assert due(AUTUMN, ACCEPTANCE, pauses=[(sh(9, 25, 16), sh(9, 25, 18))]) == sh(9, 26, 17)


def test_a_pause_on_the_receipt_day_does_not_move_a_working_day_deadline() -> None:
    assert due(AUTUMN, FIRST_REPLY, pauses=[(sh(9, 25, 16), sh(9, 25, 23))]) == sh(10, 13)


def test_an_open_pause_freezes_elapsed_time_and_projects_the_deadline() -> None:
    log = ClockLog(AUTUMN).pause(sh(9, 29, 10))
    state = log.state(FIRST_REPLY, default_calendar(), now=sh(10, 8, 12))
    # Elapsed: Mon 28 Sep 24 h + Tue 29 Sep 10 h = 34 h; 134 h = 5 d 14 h remain.
    assert state.state == "paused"
    assert state.elapsed == 34 * H and state.remaining == 134 * H
    # Resumed now (Thu 8 Oct 12:00): 12 h today, then 9, 10, 12, 13, 14 Oct, then 2 h
    # of Thu 15 Oct -> 02:00 on the 15th.
    assert state.due_at == sh(10, 15, 2)
    assert state.elapsed_fraction == pytest.approx(34 / 168)


def test_a_reopened_clock_resumes_where_it_was_met() -> None:
    calendar = default_calendar()
    met = ClockLog(AUTUMN).meet(sh(10, 9, 17))
    at_met = met.state(RESOLUTION, calendar, now=sh(10, 12, 9))
    # 28, 29, 30 Sep and 8 Oct whole, 17 h of 9 Oct.
    assert (at_met.state, at_met.elapsed) == ("met", 4 * DAY + 17 * H)
    reopened = met.reopen(sh(10, 14, 9))
    state = reopened.state(RESOLUTION, calendar, now=sh(10, 20, 12))
    # Met-to-reopen working time: 7 h + Sat 10 + Mon 12 + Tue 13 Oct + 9 h = 3 d 16 h.
    # Remaining at reopen: 20 d - 4 d 17 h = 15 d 7 h: 15 h of 14 Oct, 14 whole days
    # (15, 16, 19-23, 26-30 Oct, 2, 3 Nov) and 16 h of Wed 4 Nov -> 16:00 on 4 Nov.
    assert state.due_at == sh(11, 4, 16)
    assert state.state == "running"
    # Elapsed by Tue 20 Oct 12:00: 4 d 17 h + 15 h + 15, 16, 19 Oct + 12 h = 8 d 20 h.
    assert state.elapsed == 8 * DAY + 20 * H
    assert state.remaining == 11 * DAY + 4 * H
    # A second reopen keeps both stopped stretches.
    again = reopened.meet(sh(10, 21)).reopen(sh(10, 22))
    assert again.state(RESOLUTION, calendar, now=sh(10, 22)).due_at == sh(11, 5, 16)


def test_recomputing_with_an_override_moves_a_running_deadline() -> None:
    closed = default_calendar().with_override(dt.date(2026, 10, 12), workday=False)
    # Mon 12 Oct no longer counts: the 7th working day is Tue 13 Oct.
    assert due(AUTUMN, FIRST_REPLY, calendar=closed) == sh(10, 14)
    assert due(AUTUMN, FIRST_REPLY) == sh(10, 13)


def test_breaches_by_instant_even_across_days_off() -> None:
    calendar = default_calendar()
    log = ClockLog(AUTUMN)
    assert log.state(FIRST_REPLY, calendar, now=sh(10, 13)).state == "running"
    assert log.state(FIRST_REPLY, calendar, now=sh(10, 13, 0, 1)).state == "breached"
    assert log.meet(sh(10, 12, 23, 59)).state(FIRST_REPLY, calendar, now=sh(11, 1)).state == "met"
    late = log.meet(sh(10, 13, 9)).state(FIRST_REPLY, calendar, now=sh(11, 1))
    assert (late.state, late.due_at) == ("breached", sh(10, 13))
    # Pausing after the deadline does not clear the breach nor move the deadline.
    paused_late = log.pause(sh(10, 14, 10)).state(FIRST_REPLY, calendar, now=sh(10, 15))
    assert (paused_late.state, paused_late.due_at) == ("breached", sh(10, 13))
    assert paused_late.remaining == -DAY - 10 * H
    # A Friday deadline seen on Saturday is breached although no working time passed.
    friday = sh(10, 14, 9)  # 1 Thu 15 .. 7 Fri 23 Oct -> due 00:00 Sat 24 Oct
    saturday = ClockLog(friday).state(FIRST_REPLY, calendar, now=sh(10, 24, 10))
    assert (saturday.state, saturday.remaining) == ("breached", dt.timedelta(0))


def test_the_log_refuses_impossible_transitions() -> None:
    log = ClockLog(AUTUMN)
    with pytest.raises(ValueError):
        log.resume(sh(9, 26))
    with pytest.raises(ValueError):
        log.pause(sh(9, 26)).pause(sh(9, 27))
    with pytest.raises(ValueError):
        log.reopen(sh(9, 26))
    with pytest.raises(ValueError):
        due(AUTUMN, FIRST_REPLY, pauses=[(sh(9, 30), sh(9, 29))])
    with pytest.raises(ValueError):
        due(dt.datetime(2026, 9, 25, 15), FIRST_REPLY)


def test_warning_is_due_at_75_percent_or_one_working_day_before_whichever_first() -> None:
    calendar = default_calendar()
    # First reply: 75 % = 5 d 6 h of working time -> 06:00 on the 6th working day (Sat 10
    # Oct); one working day before due is the end of Sat 10 Oct. The earlier wins.
    assert warning_at(started_at=AUTUMN, limit=FIRST_REPLY, calendar=calendar, now=AUTUMN) == sh(
        10, 10, 6
    )
    late_rule = WarningRule(fraction=None)
    assert warning_at(
        started_at=AUTUMN, limit=FIRST_REPLY, calendar=calendar, now=AUTUMN, rule=late_rule
    ) == sh(10, 11)
    # Resolution: 75 % = 15 d, the end of Thu 22 Oct; one day before due = end of Wed 28.
    assert warning_at(started_at=AUTUMN, limit=RESOLUTION, calendar=calendar, now=AUTUMN) == sh(
        10, 23
    )
    # Acceptance: 18 of 24 hours; the working-day rule does not apply to hour limits.
    assert warning_at(started_at=AUTUMN, limit=ACCEPTANCE, calendar=calendar, now=AUTUMN) == sh(
        9, 26, 9
    )
    assert (
        warning_at(
            started_at=AUTUMN, limit=ACCEPTANCE, calendar=calendar, now=AUTUMN, rule=late_rule
        )
        is None
    )
    # A pause shifts the warning like the deadline: one working day later.
    shifted = warning_at(
        started_at=AUTUMN,
        limit=FIRST_REPLY,
        calendar=calendar,
        now=AUTUMN,
        pauses=[(sh(9, 29), sh(9, 30))],
    )
    assert shifted == sh(10, 12, 6)


def test_working_time_matches_a_day_by_day_sum_and_inverts() -> None:
    calendar = default_calendar()
    rng = random.Random(7)

    def naive(start: dt.datetime, end: dt.datetime) -> dt.timedelta:
        total = dt.timedelta(0)
        day = start.astimezone(SH).date()
        while (midnight := dt.datetime.combine(day, dt.time(), tzinfo=SH)) < end:
            if calendar.is_workday(day):
                total += max(min(end, midnight + DAY) - max(start, midnight), dt.timedelta(0))
            day += dt.timedelta(days=1)
        return total

    for _ in range(400):
        start = sh(1, 1, year=2024) + dt.timedelta(minutes=rng.randrange(60 * 24 * 900))
        end = start + dt.timedelta(minutes=rng.randrange(60 * 24 * 90))
        assert working_time(calendar, start, end) == naive(start, end), (start, end)
        amount = dt.timedelta(minutes=rng.randrange(1, 60 * 24 * 40))
        reached = add_working_time(calendar, start, amount)
        assert working_time(calendar, start, reached) == amount
        # Earliest such instant: a minute earlier is not enough.
        assert working_time(calendar, start, reached - dt.timedelta(minutes=1)) < amount
