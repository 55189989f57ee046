"""Parked events: an event that beats what it depends on (another topic) is parked by the
platform, applied exactly once when its parent arrives, even when two replicas take the
parent and the child at the same moment, and dead-lettered with its reason after the TTL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY
from sqlalchemy import func, select, text

from services.routing.consumer import HANDLERS
from services.routing.models import platform
from shared.broker import Broker
from shared.cloudevents import Envelope
from shared.consumer import ConsumerRunner
from shared.db import Database
from shared.events import SlaBreached, dead_letter_topic
from shared.migrations import upgrade
from shared.outbox import Outbox
from shared.parking import refresh_gauges
from tests.builders import classified
from tests.conftest import DbTarget
from tests.integration.platform.fixtures import migrate, read_topic

INBOX, OUTBOX, PARKED = platform.models.inbox, platform.models.outbox, platform.models.parked
REPETITIONS = 200


async def _replica(db_target: DbTarget) -> Database:
    db = Database(db_target.url, schema=db_target.schema)
    db.outbox = Outbox(OUTBOX, source="/tests")
    return db


def _runner(db: Database, producer: AIOKafkaProducer, bootstrap: str, **kw: Any) -> ConsumerRunner:
    return ConsumerRunner(
        db=db,
        inbox_model=INBOX,
        group="routing",
        bootstrap=bootstrap,
        handlers=HANDLERS,
        dlq_producer=producer,
        max_attempts=1,
        retry_backoff_s=0.01,
        session_timeout_ms=2000,
        heartbeat_interval_ms=300,
        parked_model=PARKED,
        **kw,
    )


@pytest.fixture
async def replicas(db_target: DbTarget) -> AsyncIterator[tuple[Database, Database]]:
    await migrate("routing", db_target)
    one, two = await _replica(db_target), await _replica(db_target)
    yield one, two
    await one.dispose()
    await two.dispose()


def _breach(ticket_no: str) -> Envelope:
    return Envelope(
        event=SlaBreached(ticket_no=ticket_no, clock="acceptance", due_at=datetime.now(UTC))
    )


async def _escalations(db: Database) -> dict[str, list[str]]:
    async with db.sessions() as s:
        rows = (await s.scalars(select(OUTBOX).where(OUTBOX.event_type == "TicketEscalated"))).all()
    out: dict[str, list[str]] = {}
    for row in rows:
        out.setdefault(row.key, []).append(json.loads(row.value)["trigger"])
    return out


async def _parked(db: Database) -> int:
    async with db.sessions() as s:
        return await s.scalar(select(func.count()).select_from(PARKED)) or 0


async def test_a_child_and_its_parent_taken_by_two_replicas_at_once_apply_the_child_once(
    replicas: tuple[Database, Database], producer: AIOKafkaProducer, broker: Broker
) -> None:
    """Replica one reads the SLA topic's partition, replica two the ticket topic's; each
    pair's SlaBreached and TicketClassified are applied at the same moment, 200 times."""
    one, two = replicas
    sla_replica = _runner(one, producer, broker.bootstrap)
    ticket_replica = _runner(two, producer, broker.bootstrap)
    tickets = [f"TS-RACE-{i:03d}" for i in range(REPETITIONS)]
    for i, ticket_no in enumerate(tickets):
        child, parent = _breach(ticket_no), Envelope(event=classified(ticket_no))
        deliveries = [
            sla_replica.apply(child, topic=child.event.topic),
            ticket_replica.apply(parent, topic=parent.event.topic),
        ]
        if i % 2:  # either may start first
            deliveries.reverse()
        await asyncio.gather(*deliveries)

    escalations = await _escalations(one)
    assert {t: escalations.get(t) for t in tickets} == {t: ["sla_breach"] for t in tickets}
    assert await _parked(one) == 0


async def test_a_child_whose_parent_never_comes_is_dead_lettered_with_its_reason_after_the_ttl(
    replicas: tuple[Database, Database], producer: AIOKafkaProducer, broker: Broker
) -> None:
    db, _ = replicas
    runner = _runner(db, producer, broker.bootstrap, parked_ttl_s=0.5, parked_sweep_interval_s=0.1)
    orphan = _breach("TS-ORPHAN")
    await runner.apply(orphan, topic=orphan.event.topic)
    assert await refresh_gauges(db, PARKED, service="routing-ttl") >= (1, 0.0)
    assert REGISTRY.get_sample_value("parked_events", {"service": "routing-ttl"}) == 1

    task = asyncio.create_task(runner.run())  # its loop sweeps expired parked events
    try:
        [dead] = await read_topic(broker.bootstrap, dead_letter_topic("routing"), expect=1)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    headers = {k: v.decode() for k, v in dead.headers}
    assert headers["ce_id"] == orphan.id
    assert headers["dlq_reason"] == "SlaBreached before the ticket was dispatched"
    assert "TTL" in headers["dlq_error"]
    assert headers["dlq_source_topic"] == orphan.event.topic
    await refresh_gauges(db, PARKED, service="routing-ttl")
    labels = {"service": "routing-ttl"}
    assert REGISTRY.get_sample_value("parked_events", labels) == 0
    assert REGISTRY.get_sample_value("parked_event_oldest_age_seconds", labels) == 0
    # Its inbox row went with it: a dlq-replay once the cause is fixed applies it again.
    async with db.sessions() as s:
        assert await s.get(INBOX, orphan.id) is None


async def test_a_child_read_again_while_parked_stays_parked_once(
    replicas: tuple[Database, Database], producer: AIOKafkaProducer, broker: Broker
) -> None:
    db, _ = replicas
    runner = _runner(db, producer, broker.bootstrap)
    child = _breach("TS-TWICE")
    await runner.apply(child, topic=child.event.topic)
    await runner.apply(child, topic=child.event.topic)  # redelivered
    assert await _parked(db) == 1
    parent = Envelope(event=classified("TS-TWICE"))
    await runner.apply(parent, topic=parent.event.topic)
    assert (await _escalations(db))["TS-TWICE"] == ["sla_breach"]
    assert await _parked(db) == 0


async def test_an_early_breach_kept_before_the_upgrade_is_parked_and_escalates_at_dispatch(
    db_target: DbTarget, producer: AIOKafkaProducer, broker: Broker
) -> None:
    await upgrade_async_to(db_target, "0003_routing_early_breach")
    db = await _replica(db_target)
    try:
        async with db.engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO early_breach (ticket_no, clock, at) VALUES (:t, :c, :at)"),
                {"t": "TS-OLD", "c": "acceptance", "at": datetime.now(UTC)},
            )
        await migrate("routing", db_target)
        assert await _parked(db) == 1
        runner = _runner(db, producer, broker.bootstrap)
        parent = Envelope(event=classified("TS-OLD"))
        await runner.apply(parent, topic=parent.event.topic)
        assert (await _escalations(db))["TS-OLD"] == ["sla_breach"]
        assert await _parked(db) == 0
    finally:
        await db.dispose()


async def upgrade_async_to(db_target: DbTarget, revision: str) -> None:
    await asyncio.to_thread(upgrade, "routing", db_target.url, db_target.schema, revision)
