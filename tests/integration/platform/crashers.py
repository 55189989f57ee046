"""Processes that die at the worst moment, for the crash tests (run with `python -m`).

stage-and-die URL SCHEMA N          commit N events, then die before any relay runs
relay-dies-after-ack URL SCHEMA BOOTSTRAP
                                    publish, get the broker's ack, die before marking sent
consumer-dies-after-effect URL SCHEMA BOOTSTRAP
                                    apply one event, die before committing its offset
consumer-dies-mid-batch URL SCHEMA BOOTSTRAP N
                                    die in the middle of a poll batch: inside its
                                    transaction, before its offsets are committed
sla-fire-dies-mid-batch URL SCHEMA  claim and stage a batch of due SLA clocks, die before
                                    the batch's transaction commits
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime

from services.routing.consumer import HANDLERS as ROUTING_HANDLERS
from services.routing.models import platform as routing_platform
from services.sla.calendar_store import CalendarCache
from services.sla.handlers import Sla
from services.sla.models import platform as sla_platform
from services.sla.settings import SlaSettings
from shared.cloudevents import Envelope
from shared.consumer import ConsumerRunner
from shared.db import Database
from shared.events import TicketStatusChanged
from shared.kafka import make_producer
from shared.outbox import Outbox, OutboxRelay
from tests.integration.platform import fixtures


def _db(url: str, schema: str) -> Database:
    db = Database(url, schema=schema or None)
    db.outbox = Outbox(fixtures.OUTBOX, source="/tests")
    return db


async def stage_and_die(url: str, schema: str, n: int) -> None:
    db = _db(url, schema)
    async with db.uow() as uow:
        for i in range(n):
            uow.publish(
                TicketStatusChanged(
                    ticket_no=f"TS-CRASH-{i % 3}",
                    from_status=None,
                    to_status=f"s{i}",
                    actor="test",
                    changed_at=datetime.now(UTC),
                )
            )
        await uow.commit()
    os._exit(9)


class _DyingRelay(OutboxRelay):
    async def before_mark_sent(self, ids: list[int]) -> None:
        if ids:
            os._exit(9)


async def relay_dies_after_ack(url: str, schema: str, bootstrap: str) -> None:
    producer = make_producer(bootstrap, client_id="dying-relay")
    await producer.start()
    await _DyingRelay(_db(url, schema), fixtures.OUTBOX, producer).run_once()
    raise SystemExit("relay should have died")


class _DyingMidBatch(ConsumerRunner):
    """Dies at the `after`-th hook: inside a batch's transaction (`in_batch`, before it
    commits) or after a record's commit (`on_processed`, before its offset is committed)."""

    after = 1

    def _count(self) -> None:
        self.after -= 1
        if self.after == 0:
            os._exit(9)

    async def in_batch(self, envelope: Envelope) -> None:
        self._count()

    async def on_processed(self, envelope: Envelope) -> None:
        self._count()


async def consumer_dies_after_effect(url: str, schema: str, bootstrap: str, after: int = 1) -> None:
    db = Database(url, schema=schema or None)
    db.outbox = Outbox(routing_platform.models.outbox, source="/tests")
    producer = make_producer(bootstrap, client_id="dying-consumer")
    await producer.start()
    runner = _DyingMidBatch(
        db=db,
        inbox_model=routing_platform.models.inbox,
        group="routing",
        bootstrap=bootstrap,
        handlers=ROUTING_HANDLERS,
        dlq_producer=producer,
        session_timeout_ms=2000,
        heartbeat_interval_ms=300,
    )
    runner.after = after
    await asyncio.wait_for(runner.run(), 60)
    raise SystemExit("consumer should have died")


class _DyingSla(Sla):
    async def fire(self, uow, ids, now, calendar):  # type: ignore[no-untyped-def]
        fired = await super().fire(uow, ids, now, calendar)
        if fired:
            await uow.session.flush()  # the claims and recomputed rows reach the database
            os._exit(9)  # ... and the transaction never commits
        return fired


async def sla_fire_dies_mid_batch(url: str, schema: str) -> None:
    db = Database(url, schema=schema or None)
    db.outbox = Outbox(sla_platform.models.outbox, source="/tests")
    settings = SlaSettings(database_url=url, db_schema=schema or None)
    await _DyingSla(settings, CalendarCache()).tick(db, datetime.now(UTC))
    raise SystemExit("the scheduler should have died")


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    if mode == "stage-and-die":
        asyncio.run(stage_and_die(args[0], args[1], int(args[2])))
    elif mode == "relay-dies-after-ack":
        asyncio.run(relay_dies_after_ack(*args))
    elif mode == "consumer-dies-after-effect":
        asyncio.run(consumer_dies_after_effect(*args))
    elif mode == "consumer-dies-mid-batch":
        asyncio.run(consumer_dies_after_effect(args[0], args[1], args[2], int(args[3])))
    elif mode == "sla-fire-dies-mid-batch":
        asyncio.run(sla_fire_dies_mid_batch(*args))
    else:
        raise SystemExit(f"unknown mode {mode}")
