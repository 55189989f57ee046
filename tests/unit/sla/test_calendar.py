"""The working-day calendar: official data, provisional years, overrides, the index."""

from __future__ import annotations

import datetime as dt
import random

import chinese_calendar
import pytest
from chinese_calendar import constants

from services.sla.calendar import (
    DEFAULT_FIXED_HOLIDAYS,
    Day,
    FixedHoliday,
    OutsideCalendar,
    WorkingCalendar,
    default_calendar,
    seed_from_chinesecalendar,
)

D = dt.date
LIBRARY_YEARS = range(min(constants.holidays).year, max(constants.holidays).year + 1)
FIXED = {(1, 1), (5, 1), (10, 1), (10, 2), (10, 3)}


def oracle_is_workday(day: dt.date) -> bool:
    """Independent answer: the library where it has data, else weekends + fixed holidays."""
    if day.year in LIBRARY_YEARS:
        # chinese_calendar.is_workday's own rule, minus its slow per-call range check.
        return day in constants.workdays or (day.weekday() < 5 and day not in constants.holidays)
    return day.weekday() < 5 and (day.month, day.day) not in FIXED


def naive_add(day: dt.date, n: int) -> dt.date:
    step = dt.timedelta(days=1 if n > 0 else -1)
    left = abs(n)
    while left:
        day += step
        left -= oracle_is_workday(day)
    return day


def naive_between(start: dt.date, end: dt.date) -> int:
    return sum(
        oracle_is_workday(start + dt.timedelta(days=i)) for i in range(1, (end - start).days + 1)
    )


def test_seed_covers_every_year_the_library_knows_and_no_more() -> None:
    seed = seed_from_chinesecalendar()
    assert list(seed) == list(LIBRARY_YEARS)
    assert seed.keys() >= {2004, 2026}
    assert 2027 not in seed
    assert all(
        day.source == "official" and day.date.year == year
        for year, days in seed.items()
        for day in days
    )


def test_seeded_calendar_agrees_with_chinesecalendar_on_every_covered_day() -> None:
    calendar = default_calendar()
    day = D(LIBRARY_YEARS.start, 1, 1)
    while day.year in LIBRARY_YEARS:
        assert calendar.is_workday(day) == chinese_calendar.is_workday(day), day
        day += dt.timedelta(days=1)


def test_autumn_2026_mid_autumn_and_national_day_as_published() -> None:
    # Verified against chinesecalendar 1.11.0: Mid-Autumn Fri 25 - Sun 27 Sep off, National
    # Day Thu 1 - Wed 7 Oct off, make-up working days Sun 20 Sep and Sat 10 Oct.
    calendar = default_calendar()
    off = [D(2026, 9, d) for d in (25, 26, 27)] + [D(2026, 10, d) for d in range(1, 8)]
    assert not any(calendar.is_workday(d) for d in off)
    assert calendar.day(D(2026, 9, 25)).name == "Mid-autumn Festival"
    make_up = calendar.day(D(2026, 9, 20))
    assert make_up.workday and make_up.source == "official" and make_up.name == "National Day"
    assert calendar.is_workday(D(2026, 10, 10))  # Saturday
    assert not calendar.is_workday(D(2026, 10, 11))  # ordinary Sunday
    assert calendar.is_workday(D(2026, 10, 8))


def test_spring_festival_2026_as_published() -> None:
    # Off Sun 15 - Mon 23 Feb; make-up working days Sat 14 Feb and Sat 28 Feb.
    calendar = default_calendar()
    assert not any(calendar.is_workday(D(2026, 2, d)) for d in range(15, 24))
    assert calendar.is_workday(D(2026, 2, 14)) and calendar.is_workday(D(2026, 2, 28))
    assert calendar.is_workday(D(2026, 2, 24))


def test_a_year_without_an_arrangement_is_provisional_weekends_and_fixed_holidays() -> None:
    calendar = default_calendar()
    new_year = calendar.day(D(2027, 1, 1))  # a Friday
    assert (new_year.workday, new_year.source, new_year.name) == (
        False,
        "provisional",
        "New Year's Day",
    )
    assert not calendar.is_workday(D(2027, 10, 1)) and not calendar.is_workday(D(2027, 10, 3))
    # Monday 4 Oct 2027 will surely be off, but until it is published we do not guess.
    assert calendar.is_workday(D(2027, 10, 4))
    assert calendar.day(D(2027, 10, 4)).source == "provisional"
    assert calendar.is_workday(D(2027, 1, 4)) and not calendar.is_workday(D(2027, 1, 2))
    assert calendar.is_provisional(D(2027, 6, 1)) and not calendar.is_provisional(D(2026, 12, 31))


def test_range_is_provisional_when_any_day_falls_in_an_unknown_year() -> None:
    calendar = default_calendar()
    assert not calendar.range_is_provisional(D(2026, 12, 20), D(2026, 12, 31))
    assert calendar.range_is_provisional(D(2026, 12, 20), D(2027, 1, 1))
    assert not calendar.range_is_provisional(D(2004, 1, 1), D(2026, 12, 31))
    assert calendar.range_is_provisional(D(2003, 12, 31), D(2004, 1, 1))


def test_fixed_holidays_of_provisional_years_are_data() -> None:
    with_labour_week = (*DEFAULT_FIXED_HOLIDAYS, FixedHoliday(5, 3, "Labour Day"))
    calendar = WorkingCalendar(fixed_holidays=with_labour_week, first_year=2027, last_year=2027)
    assert not calendar.is_workday(D(2027, 5, 3))  # a Monday
    assert default_calendar().is_workday(D(2027, 5, 3))


def test_an_override_makes_a_new_calendar_and_leaves_the_old_one_alone() -> None:
    base = default_calendar()
    typhoon = base.with_override(D(2026, 9, 15), workday=False, note="typhoon closure")
    assert base.is_workday(D(2026, 9, 15)) and not typhoon.is_workday(D(2026, 9, 15))
    assert typhoon.day(D(2026, 9, 15)).source == "override"
    # Mon 14 Sep: the next working day skips the closed Tuesday.
    assert base.nth_workday_after(D(2026, 9, 14), 1) == D(2026, 9, 15)
    assert typhoon.nth_workday_after(D(2026, 9, 14), 1) == D(2026, 9, 16)
    assert typhoon.working_days_between(D(2026, 9, 13), D(2026, 9, 19)) == 4


def test_removing_an_override_restores_the_official_day_beneath_it() -> None:
    cancelled = default_calendar().with_override(D(2026, 10, 10), workday=False)
    assert not cancelled.is_workday(D(2026, 10, 10))
    restored = cancelled.without_override(D(2026, 10, 10))
    assert restored.day(D(2026, 10, 10)) == default_calendar().day(D(2026, 10, 10))
    assert restored.is_workday(D(2026, 10, 10))


def test_loading_an_official_year_ends_its_provisional_status_and_keeps_overrides() -> None:
    base = default_calendar().with_override(D(2027, 3, 1), workday=False, note="local closure")
    arrangement = [
        Day(D(2027, 1, 1), False, "official", "New Year's Day"),
        Day(D(2027, 2, 6), True, "official", "Spring Festival"),  # a Saturday
        Day(D(2027, 10, 4), False, "official", "National Day"),
    ]
    loaded = base.with_official_year(2027, arrangement)
    assert not loaded.is_provisional(D(2027, 6, 1)) and base.is_provisional(D(2027, 6, 1))
    assert loaded.is_workday(D(2027, 2, 6)) and not loaded.is_workday(D(2027, 10, 4))
    assert loaded.day(D(2027, 10, 5)).source == "official"
    assert not loaded.is_workday(D(2027, 3, 1))
    # Loading the year again replaces it instead of merging.
    reloaded = loaded.with_official_year(2027, arrangement[:1])
    assert not reloaded.is_workday(D(2027, 2, 6)) and reloaded.is_workday(D(2027, 10, 4))


def test_an_arrangement_may_name_a_make_up_day_in_the_previous_official_year() -> None:
    calendar = default_calendar()
    loaded = calendar.with_official_year(2027, [Day(D(2026, 12, 26), True, "official")])
    assert loaded.is_workday(D(2026, 12, 26)) and not calendar.is_workday(D(2026, 12, 26))
    with pytest.raises(ValueError):
        calendar.with_official_year(2028, [Day(D(2027, 12, 25), True, "official")])


def test_working_days_between_counts_after_start_up_to_end() -> None:
    calendar = default_calendar()
    # Fri 25 Sep 2026 -> Mon 12 Oct: 28, 29, 30 Sep, 8, 9, 10, 12 Oct.
    assert calendar.working_days_between(D(2026, 9, 25), D(2026, 10, 12)) == 7
    assert calendar.working_days_between(D(2026, 10, 12), D(2026, 9, 25)) == -7
    assert calendar.working_days_between(D(2026, 9, 28), D(2026, 9, 28)) == 0


def test_adding_working_days_forward_backward_and_zero() -> None:
    calendar = default_calendar()
    assert calendar.add_working_days(D(2026, 9, 25), 7) == D(2026, 10, 12)
    assert calendar.nth_workday_after(D(2026, 2, 13), 1) == D(2026, 2, 14)
    assert calendar.nth_workday_after(D(2026, 2, 14), 1) == D(2026, 2, 24)
    # Back from Thu 8 Oct over the National Day week: Wed 30 Sep, then Tue 29 Sep.
    assert calendar.add_working_days(D(2026, 10, 8), -2) == D(2026, 9, 29)
    assert calendar.add_working_days(D(2026, 10, 4), 0) == D(2026, 10, 4)
    with pytest.raises(ValueError):
        calendar.nth_workday_after(D(2026, 1, 1), 0)


def test_counting_past_the_index_span_is_refused() -> None:
    calendar = WorkingCalendar(first_year=2030, last_year=2030)
    with pytest.raises(OutsideCalendar):
        calendar.nth_workday_after(D(2030, 12, 30), 5)
    with pytest.raises(OutsideCalendar):
        calendar.working_days_between(D(2029, 12, 31), D(2030, 1, 5))


def test_ten_years_of_working_days_match_a_day_by_day_count() -> None:
    calendar = default_calendar()
    start, end = D(2015, 1, 1), D(2024, 12, 31)
    total = naive_between(start, end)
    assert calendar.working_days_between(start, end) == total
    assert calendar.add_working_days(start, total) == naive_add(start, total)
    assert calendar.add_working_days(end, -total) == naive_add(end, -total)


def test_random_offsets_match_a_day_by_day_walk() -> None:
    calendar = default_calendar()
    rng = random.Random(20260925)
    for _ in range(1500):
        day = D(2005, 3, 1) + dt.timedelta(days=rng.randrange(365 * 30))
        n = rng.randint(-250, 250)
        assert calendar.add_working_days(day, n) == naive_add(day, n), (day, n)
        other = day + dt.timedelta(days=rng.randint(-400, 400))
        assert calendar.working_days_between(day, other) == (
            naive_between(day, other) if other >= day else -naive_between(other, day)
        )


def test_queries_never_walk_day_by_day(monkeypatch: pytest.MonkeyPatch) -> None:
    calendar = default_calendar()

    def walked(self: WorkingCalendar, date: dt.date) -> Day:
        raise AssertionError(f"derived {date} one day at a time")

    monkeypatch.setattr(WorkingCalendar, "_day", walked)
    assert calendar.add_working_days(D(2005, 1, 1), 8000) > D(2036, 1, 1)
    assert calendar.working_days_between(D(2004, 1, 1), D(2040, 12, 31)) > 9000
    assert calendar.is_workday(D(2026, 10, 10))
