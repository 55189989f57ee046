"""Transactional outbox: events are rows written with the state change, then relayed.

The relay publishes unsent rows with acks=all and marks them sent only after the
broker acknowledged them, so a crash anywhere re-sends and never drops. Sent rows are kept
for a retention period (pruned by shared/retention.py), so a broker that comes back empty
is refilled from them (shared/epoch.py).

Per-ticket order: writers of one key insert their rows under a per-key commit lock, so a
key's id order is its commit order (`_insert_staged`); the relay sends each key's rows in
id order, the next only after the broker acknowledged the last. On PostgreSQL several
relays may run (one per replica) but one publishes at a time (an advisory lock per outbox
table). On SQLite exactly one relay per service runs (the embedded default is one process
each) and writers are serialised.
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
from sqlalchemy import (
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

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
    parked: type[Any]


def platform_models(base: type[DeclarativeBase]) -> PlatformModels:
    """Declare the outbox, inbox, idempotency and parked-event tables on a service's base."""

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

    class ParkedEvent(base):  # type: ignore[valid-type,misc]
        """A consumed event that arrived before what it depends on (`NotYet`): replayed
        after the next event for its key applies, dead-lettered after the TTL."""

        __tablename__ = "parked_event"
        __table_args__ = (UniqueConstraint("event_id", "key"),)
        id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
        key: Mapped[str] = mapped_column(String(100), index=True)
        event_id: Mapped[str] = mapped_column(String(36))
        event_type: Mapped[str] = mapped_column(String(100))
        topic: Mapped[str] = mapped_column(String(200))
        headers: Mapped[str] = mapped_column(Text)
        value: Mapped[str] = mapped_column(Text)
        reason: Mapped[str] = mapped_column(Text)
        parked_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    return PlatformModels(OutboxMessage, InboxMessage, IdempotencyRecord, ParkedEvent)


class Outbox:
    """Stages events in the caller's transaction."""

    def __init__(self, model: type[Any], *, source: str) -> None:
        self.model = model
        self.source = source

    def stage(self, session: AsyncSession, event: Event) -> Envelope:
        """Add an event to the outbox; it is published only if the transaction commits.

        The row is written by one Core executemany INSERT of everything the transaction
        staged, just before it commits (`_insert_staged`): an ORM object per event cost
        ten times as much CPU as the INSERT itself."""
        envelope = Envelope(event=event, source=self.source, extra_headers=trace_headers())
        key, value, headers = encode(envelope)
        sync = session.sync_session
        # Tagged with the innermost transaction: a savepoint rolled back (a handler's NotYet)
        # takes back what was staged inside it, and only that.
        transaction = sync.get_nested_transaction() or sync.get_transaction()
        staged: list[_Staged] = sync.info.setdefault(_STAGED, [])
        staged.append(
            (
                transaction,
                self.model,
                {
                    "event_id": envelope.id,
                    "topic": event.topic,
                    "key": key.decode(),
                    "event_type": envelope.type,
                    "value": value.decode(),
                    "headers": json.dumps([(k, v.decode()) for k, v in headers]),
                    "created_at": utcnow(),
                },
            )
        )
        return envelope


_STAGED = "outbox_staged"
_Staged = tuple[Any, type[Any], dict[str, Any]]
"""(transaction it was staged in, outbox model, row values)"""


OUTBOX_LOCK_SPACE = 0x6F62
"""The advisory-lock key space of the outbox's per-key commit lock (two-int form)."""
RELAY_LOCK_SPACE = 0x6F63
"""The advisory-lock key space of the one-publisher-at-a-time relay lock."""


@event.listens_for(Session, "before_commit")
def _insert_staged(session: Session) -> None:
    """Write the transaction's staged outbox rows, in staging order, before it commits.

    On PostgreSQL, in commit order per key as well: sequence ids are handed out when rows
    are inserted, not when transactions commit, so two transactions writing one ticket
    could commit in the opposite order of their ids and a relay would publish the later
    event first. A per-key transaction lock taken right before the INSERT makes a key's id
    order its commit order: the next writer of that key gets its id only after this
    transaction ended. Keys are locked in sorted order (no deadlock between writers);
    SQLite serialises writers, so its ids are commit order already."""
    staged: list[_Staged] | None = session.info.pop(_STAGED, None)
    if not staged:
        return
    session.flush()  # the state changes first, as before (same transaction either way)
    if session.get_bind().dialect.name == "postgresql":
        for key in sorted({row["key"] for _, _, row in staged}):
            session.execute(
                text("SELECT pg_advisory_xact_lock(:space, hashtext(current_schema() || :key))"),
                {"space": OUTBOX_LOCK_SPACE, "key": key},
            )
    for model in dict.fromkeys(m for _, m, _ in staged):
        session.execute(insert(model), [row for _, m, row in staged if m is model])


@event.listens_for(Session, "after_soft_rollback")
def _drop_staged(session: Session, previous_transaction: Any) -> None:
    """What a rolled-back transaction or savepoint staged is not published."""
    staged: list[_Staged] | None = session.info.get(_STAGED)
    if not staged:
        return

    def inside(transaction: Any) -> bool:
        while transaction is not None:
            if transaction is previous_transaction:
                return True
            transaction = transaction.parent
        return False

    session.info[_STAGED] = [item for item in staged if not inside(item[0])]


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
        self._lock_busy = False
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
                # Another replica's relay holds the lock: ask again soon, it may be done.
                pause = min(self.idle_interval_s, 0.05) if self._lock_busy else self.idle_interval_s
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), pause)

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
        """One relay at a time publishes (a transaction advisory lock per outbox table); the
        others find the lock taken and try again shortly. Skip-locked batches taken by two
        relays at once could interleave one key's rows across two producers; a single
        publisher with per-key chains keeps them in id (= commit) order and the batch is
        still sent concurrently across keys."""
        async with self.db.sessions() as session, session.begin():
            leader = await session.scalar(
                text("SELECT pg_try_advisory_xact_lock(:space, hashtext(current_schema() || :t))"),
                {"space": RELAY_LOCK_SPACE, "t": self.model.__tablename__},
            )
            if not leader:
                self._lock_busy = True
                return 0
            self._lock_busy = False
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
