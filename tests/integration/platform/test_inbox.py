"""The inbox: redelivery is a no-op; a consumer killed mid-way does not double-apply;
poison goes to the dead-letter topic with the error and does not block the partition; a
database outage is waited out, never dead-lettered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from services.routing.consumer import HANDLERS
from services.routing.models import Assignment, platform
from shared.broker import Broker
from shared.cloudevents import Envelope
from shared.consumer import ConsumerRunner, Handler, replay_dead_letters
from shared.db import Database, UnitOfWork
from shared.events import TICKET_TOPIC, Event, TicketClassified, dead_letter_topic
from shared.outbox import Outbox
from tests.builders import classified, eventually
from tests.conftest import DbTarget
from tests.integration.platform.fixtures import migrate, read_topic, run_crasher, send

INBOX, OUTBOX = platform.models.inbox, platform.models.outbox


@pytest.fixture
async def routing_db(db_target: DbTarget) -> AsyncIterator[Database]:
    await migrate("routing", db_target)
    db = Database(db_target.url, schema=db_target.schema)
    db.outbox = Outbox(OUTBOX, source="/tests")
    yield db
    await db.dispose()


def runner(
    db: Database,
    broker: Broker,
    producer: AIOKafkaProducer,
    handlers: dict[type[Event], Handler] | None = None,
) -> ConsumerRunner:
    return ConsumerRunner(
        db=db,
        inbox_model=INBOX,
        group="routing",
        bootstrap=broker.bootstrap,
        handlers=handlers or HANDLERS,
        dlq_producer=producer,
        max_attempts=3,
        retry_backoff_s=0.01,
        session_timeout_ms=2000,
        heartbeat_interval_ms=300,
    )


async def _count(db: Database, model: type, *where: object) -> int:
    async with db.sessions() as s:
        return await s.scalar(select(func.count()).select_from(model).where(*where)) or 0


async def _consume_until(r: ConsumerRunner, check: object) -> None:
    task = asyncio.create_task(r.run())
    try:
        await eventually(check, within=20)  # type: ignore[arg-type]
        await r.commit_pending()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_the_same_event_delivered_twice_changes_state_once(
    routing_db: Database, broker: Broker, producer: AIOKafkaProducer
) -> None:
    envelope = Envelope(event=classified("TS-DUP"))
    await send(producer, envelope)
    await send(producer, envelope)
    await send(producer, Envelope(event=classified("TS-MARKER")))
    r = runner(routing_db, broker, producer)

    async def marker_seen() -> bool:
        return await _count(routing_db, Assignment, Assignment.ticket_no == "TS-MARKER") == 1

    await _consume_until(r, marker_seen)
    assert await _count(routing_db, Assignment, Assignment.ticket_no == "TS-DUP") == 1
    assert await _count(routing_db, OUTBOX, OUTBOX.key == "TS-DUP") == 1
    assert await _count(routing_db, INBOX, INBOX.event_id == envelope.id) == 1


async def test_a_consumer_killed_between_effect_and_offset_commit_does_not_double_apply(
    db_target: DbTarget, routing_db: Database, broker: Broker, producer: AIOKafkaProducer
) -> None:
    await send(producer, Envelope(event=classified("TS-KILL")))
    code = await asyncio.to_thread(
        run_crasher,
        "consumer-dies-after-effect",
        db_target.url,
        db_target.schema or "",
        broker.bootstrap,
    )
    assert code == 9
    assert await _count(routing_db, Assignment, Assignment.ticket_no == "TS-KILL") == 1
    await send(producer, Envelope(event=classified("TS-AFTER")))
    r = runner(routing_db, broker, producer)

    async def after_seen() -> bool:
        return await _count(routing_db, Assignment, Assignment.ticket_no == "TS-AFTER") == 1

    await _consume_until(r, after_seen)
    # TS-KILL was redelivered to the new consumer (its offset was never committed) ...
    assert await _count(routing_db, INBOX) == 2
    # ... and applied once: one assignment, one TicketAssigned
    assert await _count(routing_db, Assignment, Assignment.ticket_no == "TS-KILL") == 1
    assert await _count(routing_db, OUTBOX, OUTBOX.key == "TS-KILL") == 1


async def test_a_consumer_killed_in_the_middle_of_a_poll_batch_loses_nothing_and_repeats_nothing(
    db_target: DbTarget, routing_db: Database, broker: Broker, producer: AIOKafkaProducer
) -> None:
    tickets = [f"TS-BATCH-{i}" for i in range(12)]
    for ticket in tickets:  # all on the topic before the consumer polls: one poll batch
        await send(producer, Envelope(event=classified(ticket)))
    code = await asyncio.to_thread(
        run_crasher,
        "consumer-dies-mid-batch",
        db_target.url,
        db_target.schema or "",
        broker.bootstrap,
        "5",
    )
    assert code == 9
    assert await _count(routing_db, INBOX) < 5  # died half-way: part of the batch uncommitted
    await send(producer, Envelope(event=classified("TS-BATCH-LATER")))
    r = runner(routing_db, broker, producer)

    async def all_assigned() -> bool:  # a lost event keeps this false until the timeout
        return await _count(routing_db, Assignment) == len(tickets) + 1

    await _consume_until(r, all_assigned)
    # what had no committed offset was redelivered; the inbox dropped what the dead consumer
    # had already applied, and every event was applied exactly once
    assert await _count(routing_db, INBOX) == len(tickets) + 1
    for ticket in tickets:
        assert await _count(routing_db, Assignment, Assignment.ticket_no == ticket) == 1, ticket
        assert await _count(routing_db, OUTBOX, OUTBOX.key == ticket) == 1, ticket


async def test_poison_goes_to_the_dead_letter_topic_and_the_partition_moves_on(
    routing_db: Database, broker: Broker, producer: AIOKafkaProducer
) -> None:
    key = b"TS-SAME-PARTITION"
    await producer.send_and_wait(TICKET_TOPIC, value=b"\x00garbage", key=key)
    bad_schema = Envelope(event=classified("TS-SAME-PARTITION"))
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", bad_schema.id.encode()),
        ("ce_type", b"TicketClassified"),
        ("ce_source", b"/tests"),
    ]
    await producer.send_and_wait(TICKET_TOPIC, value=b'{"ticket_no": 1}', key=key, headers=headers)
    failing = Envelope(event=classified("TS-SAME-PARTITION", category="billing"))
    await send(producer, failing)
    await send(producer, Envelope(event=classified("TS-SAME-PARTITION", category="network")))

    attempts: list[str] = []

    async def flaky(event: TicketClassified, uow: UnitOfWork) -> None:
        if event.category == "billing":
            attempts.append(uow.event_id)
            raise RuntimeError("downstream says no")
        await HANDLERS[TicketClassified](event, uow)

    r = runner(routing_db, broker, producer, {TicketClassified: flaky})

    async def good_applied() -> bool:
        return await _count(routing_db, Assignment) == 1

    await _consume_until(r, good_applied)
    assert attempts == [failing.id] * 3  # bounded retries
    dead = await read_topic(broker.bootstrap, dead_letter_topic("routing"), expect=3)
    assert len(dead) == 3
    errors = [dict(d.headers)["dlq_error"].decode() for d in dead]
    assert "not a CloudEvent" in errors[0]
    assert "ticket_no" in errors[1]
    assert "downstream says no" in errors[2]
    assert dict(dead[2].headers)["dlq_attempts"] == b"3"
    assert dict(dead[2].headers)["ce_id"] == failing.id.encode()
    # the failed effect rolled back: no inbox entry, so a replay can still apply it
    assert await _count(routing_db, INBOX, INBOX.event_id == failing.id) == 0


async def test_a_database_outage_is_waited_out_not_dead_lettered(
    routing_db: Database, broker: Broker, producer: AIOKafkaProducer
) -> None:
    envelope = Envelope(event=classified("TS-DB-DOWN"))
    await send(producer, envelope)
    outage = {"left": 6}  # twice the attempts a bad event gets

    async def database_down_for_a_while(event: TicketClassified, uow: UnitOfWork) -> None:
        if outage["left"]:
            outage["left"] -= 1
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError(111, "refused"))
        await HANDLERS[TicketClassified](event, uow)

    r = runner(routing_db, broker, producer, {TicketClassified: database_down_for_a_while})
    dead_lettered: list[BaseException] = []

    async def no_dead_letter(record: Any, error: BaseException, *, attempts: int) -> None:
        dead_lettered.append(error)

    r.dead_letter = no_dead_letter  # type: ignore[method-assign]

    async def applied() -> bool:
        return await _count(routing_db, Assignment, Assignment.ticket_no == "TS-DB-DOWN") == 1

    await _consume_until(r, applied)
    assert outage["left"] == 0 and dead_lettered == []
    assert await _count(routing_db, INBOX, INBOX.event_id == envelope.id) == 1


async def test_dead_letters_can_be_replayed_once_the_cause_is_fixed(
    routing_db: Database, broker: Broker, producer: AIOKafkaProducer
) -> None:
    stuck = Envelope(event=classified("TS-REPLAY", category="billing"))
    await send(producer, stuck)
    broken = True

    async def sometimes(event: TicketClassified, uow: UnitOfWork) -> None:
        if broken:
            raise RuntimeError("billing system down")
        await HANDLERS[TicketClassified](event, uow)

    r = runner(routing_db, broker, producer, {TicketClassified: sometimes})
    published: list[object] = []
    dead_letter = r.dead_letter

    async def recording_dead_letter(record: Any, error: BaseException, *, attempts: int) -> None:
        await dead_letter(record, error, attempts=attempts)
        published.append(record)

    r.dead_letter = recording_dead_letter  # type: ignore[method-assign]

    async def gave_up() -> bool:
        return bool(published)

    await _consume_until(r, gave_up)
    assert len(await read_topic(broker.bootstrap, dead_letter_topic("routing"), expect=1)) == 1
    assert await _count(routing_db, Assignment) == 0
    broken = False
    assert await replay_dead_letters(broker.bootstrap, "routing", producer=producer) == 1
    assert await replay_dead_letters(broker.bootstrap, "routing", producer=producer) == 0

    async def applied() -> bool:
        return await _count(routing_db, Assignment, Assignment.ticket_no == "TS-REPLAY") == 1

    await _consume_until(
        runner(routing_db, broker, producer, {TicketClassified: sometimes}), applied
    )
    assert await _count(routing_db, INBOX, INBOX.event_id == stuck.id) == 1


async def test_a_handler_receives_the_typed_catalogue_event_and_its_envelope_on_the_uow(
    routing_db: Database, broker: Broker, producer: AIOKafkaProducer
) -> None:
    seen: list[tuple[str, str, str]] = []

    async def on_ticket_classified(event: TicketClassified, uow: UnitOfWork) -> None:
        assert uow.envelope is not None
        seen.append((type(event).__name__, event.category, uow.envelope.id))

    envelope = Envelope(event=classified("TS-TYPED", category="billing"))
    await send(producer, envelope)
    r = runner(routing_db, broker, producer, {TicketClassified: on_ticket_classified})

    async def applied() -> bool:
        return bool(seen)

    await _consume_until(r, applied)
    assert seen == [("TicketClassified", "billing", envelope.id)]
