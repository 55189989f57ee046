"""Timers sleep when idle: a tick's own commits (a lease renewed, a cursor moved) do not wake
its timer again, a commit elsewhere in the process does."""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy import text

from services.intake.models import platform as intake_platform
from shared.db import Database
from shared.scheduler import every
from shared.service import Runtime
from shared.settings import ServiceSettings
from tests.builders import eventually
from tests.conftest import DbTarget
from tests.integration.platform.fixtures import migrate


async def _commit(db: Database) -> None:
    async with db.uow() as uow:
        await uow.session.execute(text("SELECT 1"))
        await uow.commit()


async def test_a_timer_is_woken_by_other_commits_and_not_by_its_own(db_target: DbTarget) -> None:
    await migrate("intake", db_target)
    db = Database(db_target.url, schema=db_target.schema)
    settings = ServiceSettings(database_url=db_target.url, db_schema=db_target.schema)
    rt = Runtime(settings, intake_platform, db, None, None, None)  # type: ignore[arg-type]
    ticks = 0

    async def tick(_: Runtime) -> int:
        nonlocal ticks
        ticks += 1
        await _commit(db)  # bookkeeping of its own, nothing fired
        return 0

    every(rt, "test timer", tick, interval_s=0.01, idle_s=120)
    try:
        await eventually(lambda: asyncio.sleep(0, ticks >= 1))
        await asyncio.sleep(0.5)  # a timer woken by its own commits ticks ~50 times here
        assert ticks == 1
        await _commit(db)  # a request or a consumer commits: the timer looks again
        await eventually(lambda: asyncio.sleep(0, ticks >= 2))
        await asyncio.sleep(0.5)
        assert ticks == 2
    finally:
        for task in rt.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await db.dispose()
