"""Timers that fire exactly once across restarts and replicas, and sleep when nothing is due.

A service keeps its due work in its own tables with an indexed "next due" column. Each tick
selects a bounded batch of due rows by that index (never a scan of everything) and fires
each one in its own transaction with a compare-and-set update (`WHERE <not yet fired>`):
the replica whose update matches one row publishes (through the outbox, in the same
transaction); any other replica, or a restart that re-reads the row, matches none and does
nothing. So a timer fires once, and its event is never lost.

Between ticks a loop sleeps until the earliest due time (`next_due`, one index lookup) or
until a commit in this process (which may have created earlier work), whichever comes
first, and at most `idle_s`: an idle service wakes a few times a minute, not every second.
Under load the loop still ticks at most once per `interval_s` (commits do not make it spin).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Update, func, select
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.orm.exc import StaleDataError

from shared.db import UnitOfWork, utcnow
from shared.service import Runtime

log = logging.getLogger(__name__)

Tick = Callable[[Runtime], Awaitable[int]]
NextDue = Callable[[Runtime], Awaitable[datetime | None]]
FireRow = Callable[[UnitOfWork, Any, datetime], Awaitable[bool]]


async def claim(uow: UnitOfWork, statement: Update) -> bool:
    """Run a compare-and-set UPDATE; True when this transaction won the row."""
    result: CursorResult[Any] = await uow.session.execute(statement)  # type: ignore[assignment]
    return result.rowcount == 1


def earliest(due: InstrumentedAttribute[Any], *where: ColumnElement[bool]) -> NextDue:
    """The next due time by an indexed column (None when nothing is scheduled)."""

    async def next_due(rt: Runtime) -> datetime | None:
        async with rt.db.sessions() as session:
            value: datetime | None = await session.scalar(
                select(func.min(due)).where(due.is_not(None), *where)
            )
            return value

    return next_due


def row_timer(
    key: InstrumentedAttribute[Any],
    due: InstrumentedAttribute[Any],
    fire: FireRow,
    *where: ColumnElement[bool],
    batch: int = 100,
) -> tuple[Tick, NextDue]:
    """A tick that fires a batch of rows due by `due`, each in its own compare-and-set
    transaction (`fire` returns True only for the winner), and its `next_due`."""

    async def tick(rt: Runtime) -> int:
        now = utcnow()
        async with rt.db.sessions() as session:
            query = select(key).where(due <= now, *where).order_by(due).limit(batch)
            keys = list((await session.scalars(query)).all())
        fired = 0
        for row_key in keys:
            try:
                async with rt.db.uow() as uow:
                    if await fire(uow, row_key, now):
                        await uow.commit()
                        fired += 1
            except (DBAPIError, StaleDataError):
                # Lost a race with another replica or a request; the next tick re-reads it.
                log.warning("timer: %s not fired this tick", row_key, exc_info=True)
            except Exception:
                # One row that cannot fire must not hold up the others; it is retried.
                log.exception("timer: %s failed", row_key)
        return fired

    return tick, earliest(due, *where)


def every(
    rt: Runtime,
    name: str,
    tick: Tick,
    *,
    interval_s: float | None = None,
    next_due: NextDue | None = None,
    idle_s: float | None = None,
) -> None:
    """Run `tick` on this replica (supervised; stopped with the service): again at once after
    a tick that fired something, else after at least `interval_s`, then when `next_due`
    comes, a commit elsewhere in this process wakes it, or `idle_s` passes (default
    `scheduler_idle_s`). The tick's own commits (a lease renewed, a cursor moved) do not
    wake it: they made no new work, and waking on them kept idle timers ticking."""
    if not rt.settings.scheduler_enabled:
        return
    interval = interval_s if interval_s is not None else rt.settings.scheduler_interval_s
    longest = idle_s if idle_s is not None else rt.settings.scheduler_idle_s
    wake = asyncio.Event()
    ticking: list[asyncio.Task[Any] | None] = [None]

    def on_commit() -> None:
        if asyncio.current_task() is not ticking[0]:
            wake.set()

    rt.db.on_commit(on_commit)

    async def loop() -> None:
        ticking[0] = asyncio.current_task()
        while True:
            wake.clear()
            if await tick(rt):
                await asyncio.sleep(0)
                continue
            await asyncio.sleep(interval)
            if wake.is_set():
                continue
            timeout = longest - interval
            if next_due is not None:
                due = await next_due(rt)
                if due is not None:
                    timeout = min(timeout, (due - utcnow()).total_seconds())
            if timeout > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout)

    rt.run_supervised(name, loop)
