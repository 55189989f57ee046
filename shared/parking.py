"""Parked events: a consumed event that arrives before what it depends on waits here.

The topics are ordered per ticket only within themselves, so routing can read a ticket's
`SlaBreached` before its `TicketClassified`. A handler that cannot apply an event yet raises
`NotYet(key=ticket_no, reason=...)`; the consumer runner then stores the envelope here, in
the same transaction as its inbox row, and after any later event for that key applies it
replays the key's parked events in arrival order (in that transaction too).

Per-key serialisation: on PostgreSQL every consumer transaction first takes a transaction
advisory lock on its key, so a child parked by one replica and its parent applied by
another at the same moment run one after the other: whichever commits second sees the
other's row (READ COMMITTED reads afresh after the lock). SQLite has one writer at a time.

A parked event older than the TTL is dead-lettered with its reason, and its inbox row is
removed so that `dlq-replay` applies it again once the cause is fixed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select

from shared.cloudevents import Envelope, decode, encode
from shared.db import Database, UnitOfWork, utcnow
from shared.errors import NotYet, database_unavailable
from shared.observability import set_parked

log = logging.getLogger(__name__)

Apply = Callable[[Envelope, UnitOfWork], Awaitable[NotYet | None]]
"""Run an envelope's handler in a savepoint; the `NotYet` it raised, or None if applied."""


class ParkedEvents:
    """One consumer group's parked events (the service's `parked_event` table)."""

    def __init__(self, model: type[Any], *, group: str) -> None:
        self.model = model
        self.group = group

    async def lock(self, uow: UnitOfWork, key: str) -> None:
        """Serialise this transaction with every other one for the same key (PostgreSQL)."""
        await uow.lock(key)

    async def park(self, uow: UnitOfWork, envelope: Envelope, key: str, reason: str) -> None:
        """Keep an event that cannot apply yet for `key` (in the caller's transaction);
        once per event and key."""
        model = self.model
        if await uow.session.scalar(
            select(model.id).where(model.event_id == envelope.id, model.key == key)
        ):
            return
        _, value, headers = encode(envelope)
        uow.session.add(
            model(
                key=key,
                event_id=envelope.id,
                event_type=envelope.type,
                topic=envelope.event.topic,
                headers=json.dumps([[k, v.decode()] for k, v in headers]),
                value=value.decode(),
                reason=reason,
            )
        )
        await uow.session.flush()
        log.info("%s: parked %s %s for %s: %s", self.group, envelope.type, envelope.id, key, reason)

    async def replay(self, uow: UnitOfWork, key: str, apply: Apply) -> int:
        """Apply the key's parked events in order until a pass applies none; the count."""
        applied = 0
        progressed = True
        while progressed:
            progressed = False
            rows = (
                await uow.session.scalars(
                    select(self.model).where(self.model.key == key).order_by(self.model.id)
                )
            ).all()
            for row in rows:
                envelope = decode(_headers(row.headers), row.value.encode())
                if envelope is None:
                    continue  # its type left the catalogue: the TTL dead-letters it
                try:
                    outcome = await apply(envelope, uow)
                except Exception as exc:
                    if database_unavailable(exc):
                        raise
                    # The parent applies regardless; the child keeps waiting for the TTL.
                    log.warning("%s: parked %s failed on replay: %s", self.group, row.id, exc)
                    row.reason = f"replay failed: {type(exc).__name__}: {exc}"[:4000]
                    continue
                if outcome is None:
                    await uow.session.delete(row)
                    applied += 1
                    progressed = True
                else:
                    row.reason = outcome.reason
        return applied

    async def expired(self, db: Database, ttl: timedelta, *, limit: int = 100) -> list[Any]:
        """The ids and keys of parked events older than the TTL, oldest first."""
        async with db.sessions() as session:
            rows = await session.execute(
                select(self.model.id, self.model.key)
                .where(self.model.parked_at < utcnow() - ttl)
                .order_by(self.model.id)
                .limit(limit)
            )
            return list(rows.all())

    async def take(self, uow: UnitOfWork, row_id: int, key: str, inbox: type[Any]) -> Any | None:
        """Remove one expired parked event and its inbox row (under the key's lock); the row,
        or None if a replay applied it meanwhile."""
        await self.lock(uow, key)
        row = await uow.session.get(self.model, row_id)
        if row is None:
            return None
        await uow.session.delete(row)
        await uow.session.execute(delete(inbox).where(inbox.event_id == row.event_id))
        return row

    async def stats(self, db: Database) -> tuple[int, float]:
        """How many events are parked and the age of the oldest in seconds (0 if none)."""
        async with db.sessions() as session:
            query = select(func.count(self.model.id), func.min(self.model.parked_at))
            count, oldest = (await session.execute(query)).one()
        if oldest is None:
            return int(count), 0.0
        oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)
        return int(count), max(0.0, (datetime.now(UTC) - oldest).total_seconds())


async def refresh_gauges(db: Database, model: type[Any], *, service: str) -> tuple[int, float]:
    """Set `parked_events` and `parked_event_oldest_age_seconds` for one service."""
    count, age = await ParkedEvents(model, group=service).stats(db)
    set_parked(service, count, age)
    return count, age


def _headers(stored: str) -> list[tuple[str, bytes]]:
    return [(k, v.encode()) for k, v in json.loads(stored)]


def dead_letter_headers(row: Any, ttl: timedelta) -> list[tuple[str, bytes]]:
    """The parked event's own headers plus why it is dead: the reason it waited for."""
    age = (utcnow() - row.parked_at).total_seconds()
    ttl_s = ttl.total_seconds()
    error = f"NotYet: {row.reason} (parked {age:.0f}s, longer than the {ttl_s:.0f}s TTL)"
    return [
        *_headers(row.headers),
        ("dlq_error", error[:4000].encode()),
        ("dlq_reason", row.reason[:4000].encode()),
        ("dlq_source_topic", row.topic.encode()),
        ("dlq_parked_at", row.parked_at.isoformat().encode()),
        ("dlq_attempts", b"1"),
        ("dlq_failed_at", datetime.now(UTC).isoformat().encode()),
    ]
