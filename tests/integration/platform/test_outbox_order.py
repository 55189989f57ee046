"""The relay publishes one ticket's events in the order their transactions committed, and a
publish that fails half-way never lets an earlier row follow a later one of the same key."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from shared.broker import Broker
from shared.db import Database
from shared.events import TICKET_TOPIC, TicketStatusChanged
from shared.kafka import make_producer
from shared.outbox import Outbox, OutboxRelay
from tests.conftest import DbTarget
from tests.integration.platform.fixtures import OUTBOX, migrate, read_topic


def _status(ticket_no: str, to_status: str) -> TicketStatusChanged:
    return TicketStatusChanged(
        ticket_no=ticket_no,
        from_status=None,
        to_status=to_status,
        actor="test",
        changed_at=datetime.now(UTC),
    )


def _statuses(records: list[Any], key: str) -> list[str]:
    return [
        r.value.decode().split('"to_status":"')[1].split('"')[0]
        for r in records
        if r.key == key.encode()
    ]


def _writer(target: DbTarget) -> Database:
    db = Database(target.url, schema=target.schema)
    db.outbox = Outbox(OUTBOX, source="/tests")
    return db


async def test_two_postgresql_transactions_committing_out_of_id_order_are_published_in_commit_order(
    db_target: DbTarget, broker: Broker
) -> None:
    if db_target.kind != "postgresql":
        pytest.skip("SQLite serialises writers: ids are allocated in commit order")
    await migrate("intake", db_target)
    db = _writer(db_target)
    producer = make_producer(broker.bootstrap, client_id="order-relay")
    await producer.start()
    try:
        first, second = db.uow(), db.uow()
        await first.__aenter__()
        await second.__aenter__()
        try:
            # `first` writes its row first (the lower sequence id, as a handler's autoflush
            # would allocate it), then `second` writes and commits before `first` does.
            first.publish(_status("TS-ORDER", "committed-second"))
            await first.session.flush()
            second.publish(_status("TS-ORDER", "committed-first"))
            await second.session.flush()
            await second.commit()
            await first.commit()
        finally:
            await second.__aexit__(None, None, None)
            await first.__aexit__(None, None, None)
        assert await OutboxRelay(db, OUTBOX, producer).run_once() == 2
        records = await read_topic(broker.bootstrap, TICKET_TOPIC, expect=2)
        assert _statuses(records, "TS-ORDER") == ["committed-first", "committed-second"]
    finally:
        await producer.stop()
        await db.dispose()


class _FailingOnce:
    """A producer whose first send of one status fails after the broker got later rows."""

    def __init__(self, inner: AIOKafkaProducer, fail_status: str) -> None:
        self.inner = inner
        self.fail_status = fail_status
        self.failed = False

    async def send(self, topic: str, **kw: Any) -> asyncio.Future[Any]:
        if not self.failed and f'"to_status":"{self.fail_status}"'.encode() in kw["value"]:
            self.failed = True
            fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            fut.set_exception(RuntimeError("request timed out"))
            return fut
        return await self.inner.send(topic, **kw)


async def test_a_publish_failing_mid_batch_never_resends_a_row_after_later_rows_of_its_key(
    db_target: DbTarget, broker: Broker
) -> None:
    await migrate("intake", db_target)
    db = _writer(db_target)
    async with db.uow() as uow:
        for i in range(4):
            uow.publish(_status("TS-A", f"a{i}"))
            uow.publish(_status("TS-B", f"b{i}"))
        await uow.commit()
    inner = make_producer(broker.bootstrap, client_id="failing-relay")
    await inner.start()
    try:
        relay = OutboxRelay(db, OUTBOX, _FailingOnce(inner, "a1"))  # type: ignore[arg-type]
        first = await relay.run_once()
        assert first == 5  # a0 and every b: the failed a1 holds back a2, a3 of its key
        assert await relay.run_once() == 3
        records = await read_topic(broker.bootstrap, TICKET_TOPIC, expect=8)
        assert _statuses(records, "TS-A") == ["a0", "a1", "a2", "a3"]
        assert _statuses(records, "TS-B") == ["b0", "b1", "b2", "b3"]
    finally:
        await inner.stop()
        await db.dispose()
