"""The Chinese working-day calendar with an O(log n) working-day index. No I/O.

A day is a working day when it is neither a weekend nor a holiday, or when it is an
official make-up working day (调休). Explicit entries come in two layers: the State
Council's arrangement for a year (source ``official``) and single-day decisions by
operations (source ``override``), which win over everything. A year without an official
arrangement is *provisional*: only weekends and the fixed-date holidays are off, and every
answer touching it says so.

The calendar is an immutable value: overriding a day or loading an official year returns
a new calendar with its index rebuilt.
"""

from __future__ import annotations

import datetime as dt
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Literal

DaySource = Literal["official", "override", "provisional"]


@dataclass(frozen=True, slots=True)
class Day:
    """What the calendar says about one date, and on whose authority."""

    date: dt.date
    workday: bool
    source: DaySource
    name: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class FixedHoliday:
    """A holiday on the same month and day every year, assumed in provisional years."""

    month: int
    day: int
    name: str


DEFAULT_FIXED_HOLIDAYS: tuple[FixedHoliday, ...] = (
    FixedHoliday(1, 1, "New Year's Day"),
    FixedHoliday(5, 1, "Labour Day"),
    FixedHoliday(10, 1, "National Day"),
    FixedHoliday(10, 2, "National Day"),
    FixedHoliday(10, 3, "National Day"),
)
DEFAULT_FIRST_YEAR = 2004
DEFAULT_LAST_YEAR = 2040


class OutsideCalendar(ValueError):
    """A working-day count or offset left the span the index was built for."""


class WorkingCalendar:
    """Working days over ``first_year``..``last_year`` with cumulative counts for O(log n) math."""

    __slots__ = (
        "_cum",
        "_fixed",
        "_flags",
        "_official",
        "_official_years",
        "_origin",
        "_overrides",
        "_workday_offsets",
        "_years",
    )

    def __init__(
        self,
        entries: Mapping[dt.date, Day] | Iterable[Day] = (),
        *,
        official_years: Iterable[int] = (),
        fixed_holidays: Iterable[FixedHoliday] = DEFAULT_FIXED_HOLIDAYS,
        first_year: int = DEFAULT_FIRST_YEAR,
        last_year: int = DEFAULT_LAST_YEAR,
    ) -> None:
        official: dict[dt.date, Day] = {}
        overrides: dict[dt.date, Day] = {}
        if isinstance(entries, Mapping):
            wrong = [k for k, day in entries.items() if k != day.date]
            if wrong:
                raise ValueError(f"entries keyed by the wrong date: {wrong}")
            entries = entries.values()
        for day in entries:
            if day.source == "provisional":
                raise ValueError(f"{day.date}: provisional days are derived, not entered")
            (official if day.source == "official" else overrides)[day.date] = day
        years = frozenset(official_years)
        stray = sorted({d.year for d in official} - years)
        if stray:
            raise ValueError(f"official entries for years not marked official: {stray}")
        if first_year > last_year:
            raise ValueError("first_year must not be after last_year")
        self._official = official
        self._overrides = overrides
        self._official_years = years
        self._years = sorted(years)
        self._fixed = {(h.month, h.day): h for h in fixed_holidays}
        self._origin = dt.date(first_year, 1, 1)
        self._build_index(dt.date(last_year + 1, 1, 1))

    def _build_index(self, end: dt.date) -> None:
        # One pass at construction time; every query afterwards is an array lookup.
        size = (end - self._origin).days
        flags = bytearray(size)
        cum = array("l", [0]) * (size + 1)
        offsets = array("l")
        for i in range(size):
            if self._day(self._origin + dt.timedelta(days=i)).workday:
                flags[i] = 1
                offsets.append(i)
            cum[i + 1] = cum[i] + flags[i]
        self._flags, self._cum, self._workday_offsets = flags, cum, offsets

    def _rebuilt(
        self,
        *,
        official: Mapping[dt.date, Day] | None = None,
        overrides: Mapping[dt.date, Day] | None = None,
        official_years: Iterable[int] | None = None,
        first_year: int | None = None,
        last_year: int | None = None,
    ) -> WorkingCalendar:
        # Both layers are passed, so an override never hides the official day beneath it.
        official = self._official if official is None else official
        overrides = self._overrides if overrides is None else overrides
        return WorkingCalendar(
            [*official.values(), *overrides.values()],
            official_years=self._official_years if official_years is None else official_years,
            fixed_holidays=self._fixed.values(),
            first_year=first_year or self.first_date.year,
            last_year=last_year or self.last_date.year,
        )

    # -- building new calendars ---------------------------------------------------------

    def with_override(
        self, date: dt.date, *, workday: bool, name: str | None = None, note: str | None = None
    ) -> WorkingCalendar:
        """A new calendar where ops decided that ``date`` is (or is not) a working day."""
        day = Day(date, workday, "override", name, note)
        return self._rebuilt(overrides={**self._overrides, date: day})

    def without_override(self, date: dt.date) -> WorkingCalendar:
        """A new calendar where ``date`` follows the official arrangement or the rule again."""
        return self._rebuilt(overrides={k: v for k, v in self._overrides.items() if k != date})

    def with_official_year(self, year: int, days: Iterable[Day]) -> WorkingCalendar:
        """A new calendar where ``year`` follows the given official arrangement.

        The year's previous official entries are replaced; ops overrides stay on top. A notice
        may name a make-up day in another, already official year (2012's arrangement made
        Saturday 2011-12-31 a working day); such days are added to that year.
        """
        entries = {d.date: replace(d, source="official") for d in days}
        unknown = sorted({d.year for d in entries} - {year} - self._official_years)
        if unknown:
            raise ValueError(f"days in years without an official arrangement: {unknown}")
        official = {k: v for k, v in self._official.items() if k.year != year} | entries
        return self._rebuilt(
            official=official,
            official_years=self._official_years | {year},
            first_year=min(self.first_date.year, year),
            last_year=max(self.last_date.year, year),
        )

    # -- single days -----------------------------------------------------------------------

    @property
    def first_date(self) -> dt.date:
        return self._origin

    @property
    def last_date(self) -> dt.date:
        return self._origin + dt.timedelta(days=len(self._flags) - 1)

    @property
    def official_years(self) -> frozenset[int]:
        return self._official_years

    @property
    def entries(self) -> Mapping[dt.date, Day]:
        """Every explicit entry in force: official days with ops overrides on top."""
        return self._official | self._overrides

    def day(self, date: dt.date) -> Day:
        """The calendar's full answer for one date."""
        return self._day(date)

    def _day(self, date: dt.date) -> Day:
        explicit = self._overrides.get(date) or self._official.get(date)
        if explicit is not None:
            return explicit
        weekday = date.weekday() < 5
        if date.year in self._official_years:
            return Day(date, weekday, "official")
        fixed = self._fixed.get((date.month, date.day))
        if fixed is not None:
            return Day(date, False, "provisional", fixed.name)
        return Day(date, weekday, "provisional")

    def is_workday(self, date: dt.date) -> bool:
        """Whether ``date`` is a working day (O(1) inside the index span)."""
        offset = (date - self._origin).days
        if 0 <= offset < len(self._flags):
            return bool(self._flags[offset])
        return self._day(date).workday

    def is_provisional(self, date: dt.date) -> bool:
        """Whether ``date`` lies in a year without an official arrangement."""
        return date.year not in self._official_years

    def range_is_provisional(self, start: dt.date, end: dt.date) -> bool:
        """Whether any day in [start, end] lies in a provisional year."""
        lo, hi = min(start.year, end.year), max(start.year, end.year)
        known = bisect_right(self._years, hi) - bisect_left(self._years, lo)
        return known < hi - lo + 1

    # -- counting ----------------------------------------------------------------------------

    def _offset(self, date: dt.date) -> int:
        offset = (date - self._origin).days
        if not 0 <= offset < len(self._flags):
            raise OutsideCalendar(f"{date} is outside {self._origin}..{self.last_date}")
        return offset

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days d with start < d <= end; negated when end is before start."""
        if end < start:
            return -self.working_days_between(end, start)
        return self._cum[self._offset(end) + 1] - self._cum[self._offset(start) + 1]

    def nth_workday_after(self, date: dt.date, n: int) -> dt.date:
        """The n-th working day strictly after ``date`` (n >= 1)."""
        if n < 1:
            raise ValueError("n must be at least 1")
        index = self._cum[self._offset(date) + 1] + n - 1
        if index >= len(self._workday_offsets):
            raise OutsideCalendar(f"{n} working days after {date} is past {self.last_date}")
        return self._origin + dt.timedelta(days=self._workday_offsets[index])

    def nth_workday_before(self, date: dt.date, n: int) -> dt.date:
        """The n-th working day strictly before ``date`` (n >= 1)."""
        if n < 1:
            raise ValueError("n must be at least 1")
        index = self._cum[self._offset(date)] - n
        if index < 0:
            raise OutsideCalendar(f"{n} working days before {date} is before {self._origin}")
        return self._origin + dt.timedelta(days=self._workday_offsets[index])

    def add_working_days(self, date: dt.date, n: int) -> dt.date:
        """Move n working days from ``date``: forward if n > 0, back if n < 0, nowhere if 0."""
        if n > 0:
            return self.nth_workday_after(date, n)
        if n < 0:
            return self.nth_workday_before(date, -n)
        return date


def seed_from_chinesecalendar() -> dict[int, tuple[Day, ...]]:
    """Official holidays and make-up working days for every year the library covers."""
    from chinese_calendar import constants

    holidays: Mapping[dt.date, str] = constants.holidays
    workdays: Mapping[dt.date, str] = constants.workdays
    in_lieu: frozenset[dt.date] = frozenset(constants.in_lieu_days)
    # Same coverage rule as the library itself: every year from the first to the last
    # year of its holiday table (a covered year may have no make-up day at all).
    first, last = min(holidays).year, max(holidays).year
    years: dict[int, list[Day]] = {year: [] for year in range(first, last + 1)}
    for date, name in holidays.items():
        note = "rest day in lieu (调休)" if date in in_lieu else None
        years[date.year].append(Day(date, False, "official", name, note))
    for date, name in workdays.items():
        years[date.year].append(Day(date, True, "official", name, "make-up working day (调休)"))
    return {year: tuple(sorted(days, key=lambda d: d.date)) for year, days in years.items()}


def calendar_from_official(
    official: Mapping[int, Iterable[Day]],
    *,
    first_year: int = DEFAULT_FIRST_YEAR,
    last_year: int = DEFAULT_LAST_YEAR,
) -> WorkingCalendar:
    """A calendar whose official years are exactly the keys of ``official``."""
    entries = [replace(d, source="official") for days in official.values() for d in days]
    return WorkingCalendar(
        entries, official_years=official.keys(), first_year=first_year, last_year=last_year
    )


@lru_cache(maxsize=1)
def default_calendar() -> WorkingCalendar:
    """The calendar seeded from the chinesecalendar package (built once per process)."""
    return calendar_from_official(seed_from_chinesecalendar())
