"""Transactional outbox: events are rows written with the state change, then relayed.

The relay publishes unsent rows with acks=all and marks them sent only after the
broker acknowledged them, so a crash anywhere re-sends and never drops. Sent rows are kept
for a retention period (pruned by shared/retention.py), so a broker that comes back empty
is refilled from them (shared/epoch.py). On PostgreSQL
several relays may run (one per replica): each batch is taken with row locks and only
the relay holding the oldest unsent row publishes, which keeps per-ticket order. On
SQLite exactly one relay per service runs (the embedded default is one process each).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import Index, Integer, String, Text, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.cloudevents import Envelope, encode
from shared.db import Database, utcnow
from shared.epoch import BrokerEpoch
from shared.events import Event
from shared.observability import record_published, trace_headers

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlatformModels:
    """The plumbing tables every service's database has."""

    outbox: type[Any]
    inbox: type[Any]
    idempotency: type[Any]


def platform_models(base: type[DeclarativeBase]) -> PlatformModels:
    """Declare the outbox, inbox and idempotency tables on a service's declarative base."""

    class OutboxMessage(base):  # type: ignore[valid-type,misc]
        __tablename__ = "outbox_message"
        __table_args__ = (
            Index(
                "ix_outbox_message_unsent",
                "id",
                postgresql_where=text("sent_at IS NULL"),
                sqlite_where=text("sent_at IS NULL"),
            ),
        )
        id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
        event_id: Mapped[str] = mapped_column(String(36), unique=True)
        topic: Mapped[str] = mapped_column(String(200))
        key: Mapped[str] = mapped_column(String(100))
        event_type: Mapped[str] = mapped_column(String(100))
        value: Mapped[str] = mapped_column(Text)
        headers: Mapped[str] = mapped_column(Text)
        created_at: Mapped[datetime] = mapped_column(default=utcnow)
        sent_at: Mapped[datetime | None] = mapped_column(default=None)
        attempts: Mapped[int] = mapped_column(Integer, default=0)
        last_error: Mapped[str | None] = mapped_column(Text, default=None)

    class InboxMessage(base):  # type: ignore[valid-type,misc]
        __tablename__ = "inbox_message"
        event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
        event_type: Mapped[str] = mapped_column(String(100))
        topic: Mapped[str] = mapped_column(String(200))
        processed_at: Mapped[datetime] = mapped_column(default=utcnow)

    class IdempotencyRecord(base):  # type: ignore[valid-type,misc]
        __tablename__ = "idempotency_record"
        scope: Mapped[str] = mapped_column(String(100), primary_key=True)
        key: Mapped[str] = mapped_column(String(200), primary_key=True)
        request_hash: Mapped[str] = mapped_column(String(64))
        status_code: Mapped[int] = mapped_column(Integer)
        resource_id: Mapped[str] = mapped_column(String(100))
        created_at: Mapped[datetime] = mapped_column(default=utcnow)

    return PlatformModels(OutboxMessage, InboxMessage, IdempotencyRecord)


class Outbox:
    """Stages events in the caller's transaction."""

    def __init__(self, model: type[Any], *, source: str) -> None:
        self.model = model
        self.source = source

    def stage(self, session: AsyncSession, event: Event) -> Envelope:
        """Keep an event for this transaction's outbox: written (and so published) only if the
        transaction commits; the row itself is inserted by `flush_staged` right before it."""
        envelope = Envelope(event=event, source=self.source, extra_headers=trace_headers())
        key, value, headers = encode(envelope)
        session.info.setdefault(_STAGED, []).append(
            self.model(
                event_id=envelope.id,
                topic=event.topic,
                key=key.decode(),
                event_type=envelope.type,
                value=value.decode(),
                headers=json.dumps([(k, v.decode()) for k, v in headers]),
            )
        )
        return envelope

    async def flush_staged(self, session: AsyncSession) -> None:
        """Insert the staged rows just before the commit, in commit order per key.

        PostgreSQL hands out sequence ids when rows are inserted, not when transactions commit,
        so two transactions writing the same ticket could commit in the opposite order of their
        ids. Taking a per-key transaction lock first, then inserting, makes the id order of a
        key's rows its commit order: the next writer of that key gets its id only after this
        transaction has ended. Keys are locked in sorted order (no deadlock between writers).
        SQLite serialises writers, so ids are commit order there already."""
        rows = session.info.pop(_STAGED, [])
        if not rows:
            return
        if session.get_bind().dialect.name == "postgresql":
            for key in sorted({row.key for row in rows}):
                await session.execute(
                    text(
                        "SELECT pg_advisory_xact_lock(:space, hashtext(current_schema() || :key))"
                    ),
                    {"space": OUTBOX_LOCK_SPACE, "key": key},
                )
        session.add_all(rows)
        await session.flush()


_STAGED = "outbox_staged"
OUTBOX_LOCK_SPACE = 0x6F62
"""The advisory-lock key space of the outbox's per-key commit lock (two-int form)."""


class OutboxRelay:
    """Publishes committed outbox rows in batches, each key's rows in id (= commit) order, and
    marks them sent after the broker's ack. With `epoch`, it also re-publishes retained sent
    rows when the broker turns out to have come back empty (shared/epoch.py)."""

    def __init__(
        self,
        db: Database,
        model: type[Any],
        producer: AIOKafkaProducer,
        *,
        batch_size: int = 200,
        idle_interval_s: float = 0.2,
        epoch: BrokerEpoch | None = None,
        epoch_check_interval_s: float = 1.0,
        retention: timedelta = timedelta(days=7),
        clock_skew: timedelta = timedelta(seconds=2),
    ) -> None:
        self.db = db
        self.model = model
        self.producer = producer
        self.batch_size = batch_size
        self.idle_interval_s = idle_interval_s
        self.epoch = epoch
        self.epoch_check_interval_s = epoch_check_interval_s
        self.retention = retention
        self.clock_skew = clock_skew
        self.epoch_id: str | None = None
        """The broker epoch this relay last confirmed (None until the first check)."""
        self.republished = 0
        """Retained rows queued again because the broker had lost them (all checks)."""
        self._checked_at = -1e9
        self._wake = asyncio.Event()
        db.on_commit(self._wake.set)

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Relay until cancelled; a failure is logged and retried after a pause."""
        while True:
            self._wake.clear()
            try:
                await self.check_epoch()
                sent = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay failed; retrying")
                await asyncio.sleep(1.0)
                continue
            if sent < self.batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.idle_interval_s)

    async def check_epoch(self, *, force: bool = False) -> int:
        """At most once per interval: if the broker's epoch began after rows were marked sent,
        those rows may be gone with an earlier broker; queue them again (returns how many)."""
        loop = asyncio.get_running_loop()
        if self.epoch is None or (
            not force and loop.time() - self._checked_at < self.epoch_check_interval_s
        ):
            return 0
        current = await self.epoch.current()
        self._checked_at = loop.time()
        if current.id == self.epoch_id:
            return 0
        watermark = current.began_at + self.clock_skew
        async with self.db.uow() as uow:
            result = await uow.session.execute(
                update(self.model)
                .where(
                    self.model.sent_at.is_not(None),
                    self.model.sent_at < watermark,
                    self.model.sent_at >= utcnow() - self.retention,
                )
                .values(sent_at=None)
            )
            await uow.commit()
        queued = int(getattr(result, "rowcount", 0) or 0)
        if queued:
            log.warning(
                "broker epoch %s began at %s: re-publishing %d retained outbox rows sent before it",
                current.id,
                current.began_at.isoformat(),
                queued,
            )
        self.epoch_id = current.id
        self.republished += queued
        return queued

    async def drain(self) -> int:
        """Publish until nothing is left (a stopping service's last word); returns the count."""
        total = 0
        while sent := await self.run_once():
            total += sent
        return total

    async def run_once(self) -> int:
        """Publish one batch; returns how many rows were marked sent."""
        if self.db.is_sqlite:
            return await self._run_once_single()
        return await self._run_once_locked()

    async def _run_once_single(self) -> int:
        async with self.db.sessions() as session:
            rows = (
                await session.scalars(
                    select(self.model)
                    .where(self.model.sent_at.is_(None))
                    .order_by(self.model.id)
                    .limit(self.batch_size)
                )
            ).all()
        if not rows:
            return 0
        sent_ids = await self._publish(rows)
        if sent_ids:
            async with self.db.uow() as uow:
                await uow.session.execute(
                    update(self.model).where(self.model.id.in_(sent_ids)).values(sent_at=utcnow())
                )
                await uow.session.commit()
        return len(sent_ids)

    async def _run_once_locked(self) -> int:
        async with self.db.sessions() as session, session.begin():
            rows = (
                await session.scalars(
                    select(self.model)
                    .where(self.model.sent_at.is_(None))
                    .order_by(self.model.id)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            head = await session.scalar(
                select(func.min(self.model.id)).where(self.model.sent_at.is_(None))
            )
            if head is not None and head < rows[0].id:
                # Another relay holds older rows: let it publish them first (per-key order).
                return 0
            sent_ids = await self._publish(rows)
            if sent_ids:
                await session.execute(
                    update(self.model).where(self.model.id.in_(sent_ids)).values(sent_at=utcnow())
                )
            return len(sent_ids)

    async def _publish(self, rows: Sequence[Any]) -> list[int]:
        """Send a batch and wait for the acks; returns the ids acknowledged.

        Keys go out concurrently; within a key a row is sent only after the broker acknowledged
        the one before it, and the first failure stops that key (its later rows wait for the
        next batch). So no row of a key is ever accepted ahead of an earlier one, even when
        the producer cannot be idempotent (Tansu) and a failed request was partly written."""
        by_key: dict[str, list[Any]] = defaultdict(list)
        for row in rows:
            by_key[row.key].append(row)
        chains = await asyncio.gather(
            *(self._publish_key(key_rows) for key_rows in by_key.values())
        )
        acked = sorted(row_id for chain in chains for row_id in chain)
        await self.before_mark_sent(acked)
        return acked

    async def _publish_key(self, rows: list[Any]) -> list[int]:
        acked: list[int] = []
        for row in rows:
            headers = [(k, v.encode()) for k, v in json.loads(row.headers)]
            try:
                fut = await self.producer.send(
                    row.topic, value=row.value.encode(), key=row.key.encode(), headers=headers
                )
                await fut
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("publish of outbox row %s failed: %s", row.id, exc)
                break
            acked.append(row.id)
            record_published(row.event_type, row.topic)
        return acked

    async def before_mark_sent(self, ids: list[int]) -> None:
        """Hook between the broker's ack and marking rows sent (crash tests override it)."""
