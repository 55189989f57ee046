"""Transactional outbox: events are rows written with the state change, then relayed.

The relay publishes unsent rows with acks=all and marks them sent only after the
broker acknowledged them, so a crash anywhere re-sends and never drops. On PostgreSQL
several relays may run (one per replica): each batch is taken with row locks and only
the relay holding the oldest unsent row publishes, which keeps per-ticket order. On
SQLite exactly one relay per service runs (the embedded default is one process each).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import (
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from shared.cloudevents import Envelope, encode
from shared.db import Database, utcnow
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


@event.listens_for(Session, "before_commit")
def _insert_staged(session: Session) -> None:
    """Write the transaction's staged outbox rows, in staging order, before it commits."""
    staged: list[_Staged] | None = session.info.pop(_STAGED, None)
    if not staged:
        return
    session.flush()  # the state changes first, as before (same transaction either way)
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
    """Publishes committed outbox rows in id order; marks them sent after the broker acks."""

    def __init__(
        self,
        db: Database,
        model: type[Any],
        producer: AIOKafkaProducer,
        *,
        batch_size: int = 200,
        idle_interval_s: float = 0.2,
    ) -> None:
        self.db = db
        self.model = model
        self.producer = producer
        self.batch_size = batch_size
        self.idle_interval_s = idle_interval_s
        self._wake = asyncio.Event()
        db.on_commit(self._wake.set)

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Relay until cancelled; a failure is logged and retried after a pause."""
        while True:
            self._wake.clear()
            try:
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

    async def _publish(self, rows: list[Any] | Any) -> list[int]:
        """Send rows in order and wait for acks; returns the ids acknowledged, in order."""
        futures = []
        for row in rows:
            headers = [(k, v.encode()) for k, v in json.loads(row.headers)]
            futures.append(
                await self.producer.send(
                    row.topic, value=row.value.encode(), key=row.key.encode(), headers=headers
                )
            )
        acked: list[int] = []
        for row, fut in zip(rows, futures, strict=True):
            try:
                await fut
            except Exception as exc:
                # Stop at the first failure: later rows are re-sent after it (order kept).
                log.warning("publish of outbox row %s failed: %s", row.id, exc)
                break
            acked.append(row.id)
            record_published(row.event_type, row.topic)
        await self.before_mark_sent(acked)
        return acked

    async def before_mark_sent(self, ids: list[int]) -> None:
        """Hook between the broker's ack and marking rows sent (crash tests override it)."""
