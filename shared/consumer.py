"""Kafka consumer runner with an inbox: each event is applied once, offsets committed after.

For each poll batch of a partition: decode the CloudEvents; ignore unknown types; in one
DB transaction, record each event id in the inbox and run its handler (a batch that fails
anywhere is rolled back and applied record by record). The offsets are committed only after
that transaction, so a crash re-delivers and the inbox turns the
redelivery into a no-op. A record that cannot be parsed, or whose handler keeps
failing after bounded retries, goes to the group's dead-letter topic with the error,
and the partition moves on.

Handlers are `async def on_event_name(event: EventName, uow: UnitOfWork) -> None` and
receive the typed catalogue event (the runner has parsed and validated the envelope);
the CloudEvent attributes, when a handler needs them (its id as a dedup key), are on
`uow.envelope`. A handler that raises `NotYet` has its event parked (`shared.parking`):
replayed after the next event for the same key applies, dead-lettered after the TTL.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata
from sqlalchemy.exc import IntegrityError

from shared.cloudevents import Envelope, PoisonMessage, decode
from shared.db import Database, UnitOfWork
from shared.errors import NotYet, database_unavailable
from shared.events import Event, dead_letter_topic
from shared.observability import (
    extract_kafka_context,
    log_context,
    record_consumed,
    record_dead_lettered,
    record_parked,
    use_context,
)
from shared.parking import ParkedEvents, dead_letter_headers

log = logging.getLogger(__name__)

Handler = Callable[[Any, UnitOfWork], Awaitable[None]]
"""`async def on_event_name(event: EventName, uow: UnitOfWork) -> None`: each handler takes
its own catalogue class (hence `Any` here: a handler of one event is not a handler of all)."""


class _CommitOnRevoke(ConsumerRebalanceListener):
    def __init__(self, runner: ConsumerRunner) -> None:
        self.runner = runner

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self.runner.commit_pending()

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        log.info(
            "%s assigned %s", self.runner.group, sorted((t.topic, t.partition) for t in assigned)
        )


class ConsumerRunner:
    """Consumes the topics of the given handlers as one consumer group."""

    def __init__(
        self,
        *,
        db: Database,
        inbox_model: type[Any],
        group: str,
        bootstrap: str,
        handlers: Mapping[type[Event], Handler],
        dlq_producer: AIOKafkaProducer,
        max_attempts: int = 3,
        retry_backoff_s: float = 0.2,
        session_timeout_ms: int = 6000,
        heartbeat_interval_ms: int = 1000,
        fetch_max_wait_ms: int = 100,
        parked_model: type[Any] | None = None,
        parked_ttl_s: float = 86400.0,
        parked_sweep_interval_s: float = 30.0,
    ) -> None:
        self.db = db
        self.inbox = inbox_model
        self.group = group
        self.bootstrap = bootstrap
        self.handlers = {model.type_name(): h for model, h in handlers.items()}
        self.topics = sorted({model.topic for model in handlers})
        self.dlq_producer = dlq_producer
        self.session_timeout_ms = session_timeout_ms
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.max_attempts = max_attempts
        self.retry_backoff_s = retry_backoff_s
        self.parked = ParkedEvents(parked_model, group=group) if parked_model else None
        self.parked_ttl = timedelta(seconds=parked_ttl_s)
        self.parked_sweep_interval_s = parked_sweep_interval_s
        self.consumer: AIOKafkaConsumer | None = None
        self._pending: dict[TopicPartition, OffsetAndMetadata] = {}
        self.joined = asyncio.Event()
        """Set once the consumer has joined its group (readiness)."""

    async def run(self) -> None:
        """Consume until cancelled."""
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=self.group,
            client_id=f"{self.group}-consumer",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=200,
            fetch_max_wait_ms=self.fetch_max_wait_ms,
            session_timeout_ms=self.session_timeout_ms,
            heartbeat_interval_ms=self.heartbeat_interval_ms,
        )
        self.consumer.subscribe(self.topics, listener=_CommitOnRevoke(self))
        try:
            await self.consumer.start()
            self.joined.set()
            loop = asyncio.get_running_loop()
            next_sweep = loop.time() + self.parked_sweep_interval_s
            while True:
                batches = await self.consumer.getmany(timeout_ms=500)
                for tp, records in batches.items():
                    await self.process_batch(records)
                    self._pending[tp] = OffsetAndMetadata(records[-1].offset + 1, "")
                    await self.commit_pending()
                if self.parked is not None and loop.time() >= next_sweep:
                    await self._sweep()
                    next_sweep = loop.time() + self.parked_sweep_interval_s
        finally:
            self.joined.clear()
            await self._close(self.consumer)

    async def _close(self, consumer: AIOKafkaConsumer) -> None:
        """Commit what was applied and leave the group, bounded: a broker that does not
        answer must not keep a stopping service alive (uncommitted offsets are re-delivered
        and the inbox drops them)."""
        try:
            if consumer.assignment():
                await asyncio.wait_for(self.commit_pending(), 5)
        except Exception as exc:
            log.warning("%s: offsets not committed on stop: %r", self.group, exc)
        try:
            await asyncio.wait_for(consumer.stop(), 10)
        except Exception as exc:
            log.warning("%s: consumer did not stop cleanly: %r", self.group, exc)

    async def commit_pending(self) -> None:
        if self._pending and self.consumer is not None:
            pending, self._pending = self._pending, {}
            await self.consumer.commit(pending)

    async def process_batch(self, records: list[ConsumerRecord[Any, Any]]) -> None:
        """Apply one partition's poll batch in one transaction (inbox rows and effects
        together; the caller commits the offsets after). If anything in it fails (a poison
        record, a handler error, a lost database), nothing of it is kept and the records are
        applied one by one instead, with the retries and dead letters of `process`."""
        if len(records) > 1:
            items: list[tuple[ConsumerRecord[Any, Any], Envelope]] = []
            try:
                for record in records:
                    envelope = decode(record.headers, record.value)
                    if envelope is not None and envelope.type in self.handlers:
                        items.append((record, envelope))
            except PoisonMessage:
                items = []
            else:
                if not items or await self._apply_batch(items):
                    return
        for record in records:
            await self.process(record)

    async def _apply_batch(self, items: list[tuple[ConsumerRecord[Any, Any], Envelope]]) -> bool:
        """True when the whole batch committed; False (nothing kept) when it must be retried
        record by record."""
        applied: list[Envelope] = []
        parked: list[str] = []
        try:
            async with self.db.uow() as uow:
                if self.parked is not None:  # every key of the batch, in one order (no deadlock)
                    for key in sorted({envelope.subject for _, envelope in items}):
                        await self.parked.lock(uow, key)
                seen: set[str] = set()
                for record, envelope in items:
                    if envelope.id in seen or await uow.session.get(self.inbox, envelope.id):
                        continue
                    seen.add(envelope.id)
                    with (
                        use_context(extract_kafka_context(record.headers)),
                        log_context(ticket_no=envelope.subject, event_id=envelope.id),
                    ):
                        uow.session.add(
                            self.inbox(
                                event_id=envelope.id, event_type=envelope.type, topic=record.topic
                            )
                        )
                        not_yet = await self._apply_once(envelope, uow, key=None)
                        if not_yet is not None:
                            if self.parked is None:
                                raise not_yet
                            await self.parked.park(uow, envelope, not_yet.key, not_yet.reason)
                            parked.append(envelope.type)
                        elif self.parked is not None:
                            await self._replay(uow, envelope.subject)
                    applied.append(envelope)
                    await self.in_batch(envelope)
                await uow.commit()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info("%s: batch of %d not applied (%s); one by one", self.group, len(items), exc)
            return False
        for envelope in applied:
            record_consumed(self.group, envelope.type)
        for event_type in parked:
            record_parked(self.group, event_type)
        for _, envelope in items:
            await self.on_processed(envelope)
        return True

    async def in_batch(self, envelope: Envelope) -> None:
        """Hook after an event's effect, before its batch commits (crash tests override it)."""

    async def process(self, record: ConsumerRecord[Any, Any]) -> None:
        """Apply one record (with retries) or dead-letter it; never raises for bad data."""
        try:
            envelope = decode(record.headers, record.value)
        except PoisonMessage as exc:
            await self.dead_letter(record, exc, attempts=1)
            return
        if envelope is None or envelope.type not in self.handlers:
            return
        with (
            use_context(extract_kafka_context(record.headers)),
            log_context(ticket_no=envelope.subject, event_id=envelope.id),
        ):
            await self._process(record, envelope)

    async def _process(self, record: ConsumerRecord[Any, Any], envelope: Envelope) -> None:
        error: BaseException | None = None
        attempt, outage_wait = 1, self.retry_backoff_s
        while attempt <= self.max_attempts:
            try:
                if await self.apply(envelope, topic=record.topic):
                    record_consumed(self.group, envelope.type)
                await self.on_processed(envelope)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if database_unavailable(exc):
                    # Not the event's fault: wait for the database, never dead-letter for it.
                    log.warning(
                        "%s: database unavailable applying %s %s; retrying in %.1fs: %s",
                        self.group,
                        envelope.type,
                        envelope.id,
                        outage_wait,
                        exc,
                    )
                    await asyncio.sleep(outage_wait)
                    outage_wait = min(outage_wait * 2, 5.0)
                    continue
                error = exc
                log.warning(
                    "%s: %s %s failed (attempt %d/%d): %s",
                    self.group,
                    envelope.type,
                    envelope.id,
                    attempt,
                    self.max_attempts,
                    exc,
                )
                if attempt < self.max_attempts:
                    await asyncio.sleep(self.retry_backoff_s * 2 ** (attempt - 1))
                attempt += 1
        assert error is not None
        await self.dead_letter(record, error, attempts=self.max_attempts)

    async def apply(self, envelope: Envelope, *, topic: str) -> bool:
        """Run the handler and record the inbox entry in one transaction; False if seen before.

        An event whose handler raises `NotYet` is parked in that transaction; one that
        applies replays the parked events of its key after it."""
        try:
            async with self.db.uow() as uow:
                if self.parked is not None:
                    await self.parked.lock(uow, envelope.subject)
                if await uow.session.get(self.inbox, envelope.id) is not None:
                    return False
                uow.session.add(
                    self.inbox(event_id=envelope.id, event_type=envelope.type, topic=topic)
                )
                not_yet = await self._apply_once(envelope, uow, key=None)
                if not_yet is not None:
                    if self.parked is None:
                        raise not_yet
                    await self.parked.park(uow, envelope, not_yet.key, not_yet.reason)
                elif self.parked is not None:
                    await self._replay(uow, envelope.subject)
                await uow.commit()
                if not_yet is not None:
                    record_parked(self.group, envelope.type)
                return True
        except IntegrityError:
            # A concurrent consumer committed the same event id first: already applied.
            async with self.db.sessions() as session:
                if await session.get(self.inbox, envelope.id) is not None:
                    return False
            raise

    async def _run(self, envelope: Envelope, uow: UnitOfWork) -> NotYet | None:
        """The handler in a savepoint: a `NotYet` undoes what it staged and is returned."""
        handler = self.handlers.get(envelope.type)
        if handler is None:
            return None
        uow.envelope, uow.deferred = envelope, []
        try:
            async with uow.session.begin_nested():
                await handler(envelope.event, uow)
        except NotYet as exc:
            uow.deferred = []
            return exc
        finally:
            uow.envelope = None
        return None

    async def _apply_once(
        self, envelope: Envelope, uow: UnitOfWork, *, key: str | None
    ) -> NotYet | None:
        """Run the handler; park the event under the other keys it deferred. When replaying
        for `key`, deferring that key again means it still waits (a `NotYet`)."""
        not_yet = await self._run(envelope, uow)
        if not_yet is not None:
            return not_yet
        deferred, uow.deferred = uow.deferred, []
        waiting = None
        for other, reason in deferred:
            if other == key:
                waiting = NotYet(other, reason)
            elif self.parked is not None:
                await self.parked.park(uow, envelope, other, reason)
            else:
                raise NotYet(other, reason)
        return waiting

    async def _replay(self, uow: UnitOfWork, key: str) -> None:
        assert self.parked is not None

        async def again(envelope: Envelope, uow: UnitOfWork) -> NotYet | None:
            return await self._apply_once(envelope, uow, key=key)

        await self.parked.replay(uow, key, again)

    async def _sweep(self) -> None:
        try:
            await self.expire_parked()
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            log.warning("%s: parked-event sweep skipped, database unavailable: %s", self.group, exc)

    async def expire_parked(self) -> int:
        """Dead-letter parked events older than the TTL, with the reason they waited for."""
        if self.parked is None:
            return 0
        expired = 0
        for row_id, key in await self.parked.expired(self.db, self.parked_ttl):
            async with self.db.uow() as uow:
                row = await self.parked.take(uow, row_id, key, self.inbox)
                if row is None:
                    continue
                headers = dead_letter_headers(row, self.parked_ttl)
                headers.append(("dlq_group", self.group.encode()))
                await self.dlq_producer.send_and_wait(
                    dead_letter_topic(self.group),
                    value=row.value.encode(),
                    key=row.key.encode(),
                    headers=headers,
                )
                await uow.commit()
            log.error(
                "%s: parked %s %s expired: %s", self.group, row.event_type, row.event_id, row.reason
            )
            record_dead_lettered(self.group, row.event_type)
            expired += 1
        return expired

    async def on_processed(self, envelope: Envelope) -> None:
        """Hook between the effect's commit and the offset commit (crash tests override it)."""

    async def dead_letter(
        self, record: ConsumerRecord[Any, Any], error: BaseException, *, attempts: int
    ) -> None:
        """Publish the record to the group's dead-letter topic with the error attached."""
        log.error(
            "%s: dead-lettering %s[%s]@%s: %s",
            self.group,
            record.topic,
            record.partition,
            record.offset,
            error,
        )
        headers = [h for h in (record.headers or ()) if not h[0].startswith("dlq_")]
        headers += [
            ("dlq_error", f"{type(error).__name__}: {error}"[:4000].encode()),
            ("dlq_source_topic", record.topic.encode()),
            ("dlq_partition", str(record.partition).encode()),
            ("dlq_offset", str(record.offset).encode()),
            ("dlq_group", self.group.encode()),
            ("dlq_attempts", str(attempts).encode()),
            ("dlq_failed_at", datetime.now(UTC).isoformat().encode()),
        ]
        await self.dlq_producer.send_and_wait(
            dead_letter_topic(self.group), value=record.value, key=record.key, headers=headers
        )
        ce_type = dict(record.headers or ()).get("ce_type")
        record_dead_lettered(self.group, ce_type.decode(errors="replace") if ce_type else None)


async def replay_dead_letters(bootstrap: str, group: str, *, producer: AIOKafkaProducer) -> int:
    """Re-publish every dead-lettered record of a group to its source topic; returns the count.

    Reads each partition of the dead-letter topic from the replayer's committed offset up to
    the end offset taken at the start (no group join, no guessing by timeouts), and commits
    after each record, so a replay interrupted half-way resumes without repeating much.
    Consumers are idempotent, so replaying to the shared source topic is safe for other groups.
    """
    topic = dead_letter_topic(group)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"{group}-dlq-replay",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    count = 0
    try:
        await consumer.topics()  # refresh metadata: nothing is subscribed
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not partitions:
            return 0
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            committed = await consumer.committed(tp)
            consumer.seek(tp, committed or 0)
        remaining = {tp for tp in partitions if await consumer.position(tp) < ends[tp]}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, records in batches.items():
                for record in records:
                    if record.offset >= ends[tp]:
                        break
                    headers = [h for h in (record.headers or ()) if not h[0].startswith("dlq_")]
                    source = dict(record.headers or ()).get("dlq_source_topic", b"").decode()
                    if source:
                        await producer.send_and_wait(
                            source, value=record.value, key=record.key, headers=headers
                        )
                        count += 1
                    await consumer.commit({tp: record.offset + 1})
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return count
    finally:
        await consumer.stop()
