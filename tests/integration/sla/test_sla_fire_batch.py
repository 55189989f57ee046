"""The scheduler fires a tick's due clocks as one batch (one claim, one transaction): a
scheduler killed inside the batch leaves every clock still owed and nothing published; the
next tick fires each warning and breach exactly once, and a repeated tick fires none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from services.sla.calendar_store import CalendarCache
from services.sla.handlers import Sla
from services.sla.models import Clock, platform
from services.sla.settings import SlaSettings
from shared.db import Database
from shared.outbox import Outbox
from tests.builders import classified
from tests.conftest import DbTarget
from tests.integration.platform.fixtures import migrate, run_crasher

OUTBOX = platform.models.outbox
TICKETS = 12


def _sla(target: DbTarget, **kw: int) -> Sla:
    settings = SlaSettings(database_url=target.url, db_schema=target.schema, **kw)
    return Sla(settings, CalendarCache())


async def _open_tickets(db: Database, sla: Sla) -> None:
    """Twelve complaints received 30 hours ago: their short clocks are owed a breach (and
    the longer ones a warning or nothing yet)."""
    received = datetime.now(UTC) - timedelta(hours=30)
    async with db.uow() as uow:
        for i in range(TICKETS):
            event = classified(f"TS-FIRE-{i:02d}", received_at=received)
            await sla.on_ticket_classified(event, uow)
        await uow.commit()


async def _fired_events(db: Database) -> list[tuple[str, str]]:
    async with db.sessions() as s:
        rows = await s.execute(
            select(OUTBOX.event_type, OUTBOX.key).where(
                OUTBOX.event_type.in_(["SlaWarning", "SlaBreached"])
            )
        )
        return sorted((r.event_type, r.key) for r in rows)


async def _claimed(db: Database) -> int:
    async with db.sessions() as s:
        claimed = Clock.warned_at.is_not(None) | Clock.breached_at.is_not(None)
        return await s.scalar(select(func.count()).select_from(Clock).where(claimed)) or 0


async def _owed(db: Database, now: datetime) -> list[tuple[str, str]]:
    """What the clocks owe by `now`, from their stored deadlines."""
    async with db.sessions() as s:
        clocks = (await s.scalars(select(Clock).where(Clock.open.is_(True)))).all()
    owed = [("SlaWarning", c.ticket_no) for c in clocks if c.warn_at and c.warn_at <= now]
    owed += [("SlaBreached", c.ticket_no) for c in clocks if c.due_at <= now]
    return sorted(owed)


async def test_a_scheduler_killed_inside_a_fire_batch_loses_nothing_and_fires_nothing_twice(
    db_target: DbTarget,
) -> None:
    await migrate("sla", db_target)
    db = Database(db_target.url, schema=db_target.schema)
    db.outbox = Outbox(OUTBOX, source="/tests")
    try:
        await _open_tickets(db, _sla(db_target))
        assert run_crasher("sla-fire-dies-mid-batch", db_target.url, db_target.schema or "") == 9
        assert await _fired_events(db) == []  # the killed batch published nothing
        assert await _claimed(db) == 0  # ... and claimed nothing: every clock still owes
        # a restarted scheduler, in several transactions of 5 clocks: each owed event once
        now = datetime.now(UTC)
        owed = await _owed(db, now)
        assert len({key for _, key in owed}) == TICKETS  # every ticket owes something
        sla = _sla(db_target, fire_chunk=5)
        fired = await sla.tick(db, now)
        assert fired == len(owed)
        assert await _fired_events(db) == owed
        # a second tick (a replica, a retry) finds nothing owed
        assert await sla.tick(db, now) == 0
        assert await _fired_events(db) == owed
    finally:
        await db.dispose()
