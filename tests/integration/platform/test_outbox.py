"""The transactional outbox: a crash anywhere re-sends, never drops; two relays publish once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from shared.broker import Broker
from shared.db import Database
from shared.events import TICKET_TOPIC, TicketStatusChanged
from shared.kafka import make_producer
from shared.outbox import Outbox, OutboxRelay
from tests.conftest import DbTarget
from tests.integration.platform.fixtures import OUTBOX, ce_ids, migrate, read_topic, run_crasher


async def _unsent(db: Database) -> int:
    async with db.sessions() as s:
        return (
            await s.scalar(select(func.count()).select_from(OUTBOX).where(OUTBOX.sent_at.is_(None)))
            or 0
        )


async def _relay_once(db: Database, bootstrap: str) -> int:
    producer = make_producer(bootstrap, client_id="test-relay")
    await producer.start()
    try:
        return await OutboxRelay(db, OUTBOX, producer).run_once()
    finally:
        await producer.stop()


async def test_a_crash_after_commit_before_publishing_loses_nothing(
    db_target: DbTarget, broker: Broker
) -> None:
    await migrate("intake", db_target)
    assert run_crasher("stage-and-die", db_target.url, db_target.schema or "", "5") == 9
    db = Database(db_target.url, schema=db_target.schema)
    try:
        assert await _unsent(db) == 5
        assert await _relay_once(db, broker.bootstrap) == 5
        records = await read_topic(broker.bootstrap, TICKET_TOPIC, expect=5)
        assert len(records) == 5 and len(set(ce_ids(records))) == 5
        assert await _unsent(db) == 0
    finally:
        await db.dispose()


async def test_a_relay_killed_between_ack_and_mark_resends_on_restart(
    db_target: DbTarget, broker: Broker
) -> None:
    await migrate("intake", db_target)
    assert run_crasher("stage-and-die", db_target.url, db_target.schema or "", "3") == 9
    assert (
        run_crasher("relay-dies-after-ack", db_target.url, db_target.schema or "", broker.bootstrap)
        == 9
    )
    db = Database(db_target.url, schema=db_target.schema)
    try:
        assert await _unsent(db) == 3  # the broker had them, the database did not know
        assert await _relay_once(db, broker.bootstrap) == 3
        records = await read_topic(broker.bootstrap, TICKET_TOPIC, expect=6)
        ids = ce_ids(records)
        # at-least-once: each event twice, with the same CloudEvents id (the inbox dedups)
        assert len(ids) == 6 and len(set(ids)) == 3
        assert await _unsent(db) == 0
    finally:
        await db.dispose()


async def test_two_relays_on_postgresql_publish_each_row_once_in_order(
    db_target: DbTarget, broker: Broker
) -> None:
    if db_target.kind != "postgresql":
        pytest.skip("SQLite runs exactly one relay per service (documented)")
    await migrate("intake", db_target)
    writer = Database(db_target.url, schema=db_target.schema)
    writer.outbox = Outbox(OUTBOX, source="/tests")
    n, keys = 300, 10
    for start in range(0, n, 50):
        async with writer.uow() as uow:
            for i in range(start, start + 50):
                uow.publish(
                    TicketStatusChanged(
                        ticket_no=f"TS-K{i % keys}",
                        from_status=None,
                        to_status=str(i),
                        actor="test",
                        changed_at=datetime.now(UTC),
                    )
                )
            await uow.commit()
    dbs = [Database(db_target.url, schema=db_target.schema) for _ in range(2)]
    producers = [make_producer(broker.bootstrap, client_id=f"relay-{i}") for i in range(2)]
    for p in producers:
        await p.start()
    relays = [
        OutboxRelay(db, OUTBOX, p, batch_size=20, idle_interval_s=0.01)
        for db, p in zip(dbs, producers, strict=True)
    ]
    tasks = [asyncio.create_task(r.run()) for r in relays]
    try:
        for _ in range(300):
            if await _unsent(writer) == 0:
                break
            await asyncio.sleep(0.05)
        assert await _unsent(writer) == 0
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for p in producers:
            await p.stop()
        for db in [*dbs, writer]:
            await db.dispose()
    records = await read_topic(broker.bootstrap, TICKET_TOPIC, expect=n)
    assert len(records) == n and len(set(ce_ids(records))) == n
    for k in range(keys):
        sequence = [
            int(r.value.decode().split('"to_status":"')[1].split('"')[0])
            for r in records
            if r.key == f"TS-K{k}".encode()
        ]
        assert sequence == sorted(sequence), f"key TS-K{k} out of order"


def _changed(ticket_no: str, to: str) -> TicketStatusChanged:
    return TicketStatusChanged(
        ticket_no=ticket_no, from_status=None, to_status=to, actor="t", changed_at=datetime.now(UTC)
    )


async def test_events_staged_in_a_rolled_back_savepoint_or_transaction_are_never_written(
    db_target: DbTarget,
) -> None:
    await migrate("intake", db_target)
    db = Database(db_target.url, schema=db_target.schema)
    db.outbox = Outbox(OUTBOX, source="/tests")
    try:
        async with db.uow() as uow:
            uow.publish(_changed("TS-SP", "before"))
            async with uow.session.begin_nested():
                uow.publish(_changed("TS-SP", "kept-savepoint"))
            with pytest.raises(RuntimeError):
                async with uow.session.begin_nested():
                    uow.publish(_changed("TS-SP", "undone"))
                    raise RuntimeError("a handler's NotYet undoes what it staged")
            uow.publish(_changed("TS-SP", "after"))
            await uow.commit()
        async with db.uow() as uow:
            uow.publish(_changed("TS-SP", "rolled-back"))
            await uow.rollback()
        async with db.uow() as uow:
            uow.publish(_changed("TS-SP", "never-committed"))  # left without commit
        async with db.sessions() as s:
            rows = (await s.scalars(select(OUTBOX).order_by(OUTBOX.id))).all()
        assert [r.value.split('"to_status":"')[1].split('"')[0] for r in rows] == [
            "before",
            "kept-savepoint",
            "after",
        ]
    finally:
        await db.dispose()
