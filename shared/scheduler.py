"""Timers that fire exactly once across restarts and replicas.

A service keeps its due work in its own tables with an indexed "next due" column. Each tick
selects a bounded batch of due rows by that index (never a scan of everything) and fires
each one in its own transaction with a compare-and-set update (`WHERE <not yet fired>`):
the replica whose update matches one row publishes (through the outbox, in the same
transaction); any other replica, or a restart that re-reads the row, matches none and does
nothing. So a timer fires once, and its event is never lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Update
from sqlalchemy.engine import CursorResult

from shared.db import UnitOfWork
from shared.service import Runtime

log = logging.getLogger(__name__)

Tick = Callable[[Runtime], Awaitable[int]]


async def claim(uow: UnitOfWork, statement: Update) -> bool:
    """Run a compare-and-set UPDATE; True when this transaction won the row."""
    result: CursorResult[Any] = await uow.session.execute(statement)  # type: ignore[assignment]
    return result.rowcount == 1


def every(rt: Runtime, name: str, tick: Tick, *, interval_s: float | None = None) -> None:
    """Run `tick` every interval on this replica (supervised; stopped with the service).

    `tick` returns how much it fired; a full batch runs the next tick at once."""
    if not rt.settings.scheduler_enabled:
        return
    interval = interval_s if interval_s is not None else rt.settings.scheduler_interval_s

    async def loop() -> None:
        while True:
            fired = await tick(rt)
            if not fired:
                await asyncio.sleep(interval)
            else:
                await asyncio.sleep(0)

    rt.run_supervised(name, loop)
