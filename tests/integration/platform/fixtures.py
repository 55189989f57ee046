"""Helpers for the platform tests: the intake schema as a generic outbox, topic readers."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from services.intake.models import platform as intake_platform
from shared.cloudevents import Envelope, encode
from shared.migrations import upgrade_async
from tests.conftest import DbTarget

OUTBOX = intake_platform.models.outbox


async def migrate(service: str, target: DbTarget) -> None:
    await upgrade_async(service, target.url, target.schema)


async def read_topic(
    bootstrap: str, topic: str, *, expect: int, within: float = 20.0
) -> list[ConsumerRecord[Any, Any]]:
    """Everything on a topic from the start, once at least `expect` records arrived
    (then a short extra wait to catch duplicates)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"reader-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=2000,
        heartbeat_interval_ms=300,
    )
    await consumer.start()
    records: list[ConsumerRecord[Any, Any]] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        settle: float | None = None
        while loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for recs in batch.values():
                records.extend(recs)
            if len(records) >= expect:
                settle = settle or loop.time() + 1.0
                if loop.time() >= settle:
                    break
        return records
    finally:
        await consumer.stop()


def ce_ids(records: list[ConsumerRecord[Any, Any]]) -> list[str]:
    return [dict(r.headers)["ce_id"].decode() for r in records]


async def send(producer: AIOKafkaProducer, envelope: Envelope) -> None:
    key, value, headers = encode(envelope)
    await producer.send_and_wait(envelope.event.topic, value=value, key=key, headers=headers)


def run_crasher(*args: str, timeout: float = 60) -> int:
    """Run a crasher subprocess; return its exit code (9 = died where planned)."""
    proc = subprocess.run(
        [sys.executable, "-m", "tests.integration.platform.crashers", *args],
        timeout=timeout,
        capture_output=True,
    )
    if proc.returncode != 9:
        sys.stderr.write(proc.stderr.decode())
    return proc.returncode
