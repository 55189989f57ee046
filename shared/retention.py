"""The retention job: deletes plumbing and log rows once their retention has passed.

Every service prunes its sent outbox rows, its inbox and its idempotency keys (periods in
`ServiceSettings`); a service names its own log tables (e.g. notify's delivery log) with
`Retained`. Unsent outbox rows are never pruned. Each replica may run the job: a DELETE of
expired rows is the same whoever runs it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete

from shared.db import utcnow

if TYPE_CHECKING:
    from shared.service import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Retained:
    """A table whose rows are deleted `days` after the timestamp in `column`."""

    model: type[Any]
    column: str
    days: float


def platform_retention(rt: Runtime) -> list[Retained]:
    s, m = rt.settings, rt.platform.models
    return [
        Retained(m.outbox, "sent_at", s.outbox_retention_days),  # NULL (unsent) never matches
        Retained(m.inbox, "processed_at", s.inbox_retention_days),
        Retained(m.idempotency, "created_at", s.idempotency_retention_days),
    ]


async def prune(rt: Runtime, extra: Sequence[Retained] = ()) -> dict[str, int]:
    """Delete every expired row now; returns the count per table."""
    deleted: dict[str, int] = {}
    now = utcnow()
    for item in [*platform_retention(rt), *extra]:
        cutoff = now - timedelta(days=item.days)
        async with rt.db.uow() as uow:
            result = await uow.session.execute(
                delete(item.model).where(getattr(item.model, item.column) < cutoff)
            )
            await uow.commit()
        deleted[item.model.__tablename__] = int(getattr(result, "rowcount", 0) or 0)
    return deleted


async def prune_every(rt: Runtime, extra: Sequence[Retained] = ()) -> None:
    """Prune a minute after the start (not in the start-up rush), then every
    `retention_interval_s`, until cancelled."""
    interval = rt.settings.retention_interval_s
    await asyncio.sleep(min(60.0, interval))
    while True:
        deleted = await prune(rt, extra)
        if any(deleted.values()):
            log.info("%s: pruned expired rows %s", rt.platform.name, deleted)
        await asyncio.sleep(interval)
