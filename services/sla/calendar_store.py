"""The calendar as stored: seeded from `chinesecalendar`, official years loaded by ops,
single-day overrides; every change audited. Each replica caches the built calendar and
rebuilds it when the audit's highest id (the calendar version) moves."""

from __future__ import annotations

import asyncio
from datetime import date

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.sla.calendar import Day, WorkingCalendar, seed_from_chinesecalendar
from services.sla.models import CalendarChange, CalendarDay, CalendarYear
from shared.db import Database


async def seed(db: Database) -> None:
    """Insert the library's official years that the table does not have yet (idempotent;
    a concurrent replica doing the same loses on the primary key and moves on)."""
    official = seed_from_chinesecalendar()
    async with db.sessions() as session:
        have = set((await session.scalars(select(CalendarYear.year))).all())
    missing = {y: days for y, days in official.items() if y not in have}
    if not missing:
        return
    try:
        async with db.uow() as uow:
            for year, days in missing.items():
                uow.session.add(CalendarYear(year=year, origin="chinesecalendar", loaded_by="seed"))
                uow.session.add_all(_rows(days))
            uow.session.add(
                CalendarChange(
                    action="seed",
                    target=f"{min(missing)}-{max(missing)}",
                    actor="system",
                    detail={"years": sorted(missing)},
                )
            )
            await uow.commit()
    except IntegrityError:
        pass


def _rows(days: tuple[Day, ...] | list[Day]) -> list[CalendarDay]:
    return [
        CalendarDay(day=d.date, source="official", workday=d.workday, name=d.name, note=d.note)
        for d in days
    ]


async def replace_year(session: AsyncSession, year: int, days: list[Day], actor: str) -> None:
    """Make `days` the official arrangement of `year` (its previous entries go)."""
    await session.execute(
        delete(CalendarDay).where(
            CalendarDay.source == "official",
            CalendarDay.day >= date(year, 1, 1),
            CalendarDay.day <= date(year, 12, 31),
        )
    )
    existing = await session.get(CalendarYear, year)
    if existing is None:
        session.add(CalendarYear(year=year, origin="ops", loaded_by=actor))
    else:
        existing.origin, existing.loaded_by = "ops", actor
    session.add_all(_rows(days))


async def version(session: AsyncSession) -> int:
    return await session.scalar(select(func.max(CalendarChange.id))) or 0


async def build(session: AsyncSession) -> WorkingCalendar:
    years = set((await session.scalars(select(CalendarYear.year))).all())
    rows = (await session.scalars(select(CalendarDay))).all()
    days = [Day(r.day, r.workday, r.source, r.name, r.note) for r in rows]  # type: ignore[arg-type]
    return WorkingCalendar(days, official_years=years)


class CalendarCache:
    """This replica's built calendar, rebuilt when another replica (or we) changed it."""

    def __init__(self) -> None:
        self._calendar: WorkingCalendar | None = None
        self._version = -1
        self._lock = asyncio.Lock()

    async def get(self, session: AsyncSession) -> WorkingCalendar:
        current = await version(session)
        if self._calendar is not None and current == self._version:
            return self._calendar
        async with self._lock:
            if self._calendar is None or current != self._version:
                self._calendar = await build(session)
                self._version = current
        return self._calendar
