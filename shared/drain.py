"""What a stopping system still has in flight: unsent outbox rows per service and the
consumer lag per group. The runner waits (bounded) for both to reach zero before it stops
the consumers and the broker, and says what remains if they do not."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import text

from shared.asyncapi import consumers
from shared.db import create_engine
from shared.events import EVENT_TYPES
from shared.topology import SERVICES


@dataclass
class InFlight:
    unsent: dict[str, int] = field(default_factory=dict)
    """Outbox rows not yet acknowledged by the broker, per service."""
    lag: dict[str, int] = field(default_factory=dict)
    """Records on the broker a consumer group has not committed yet, per group."""
    errors: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.errors and not any(self.unsent.values()) and not any(self.lag.values())

    def __str__(self) -> str:
        parts = [
            f"unsent outbox rows {_nonzero(self.unsent)}",
            f"consumer lag {_nonzero(self.lag)}",
        ]
        if self.errors:
            parts.append(f"not measured: {'; '.join(self.errors)}")
        return ", ".join(parts)


def _nonzero(counts: dict[str, int]) -> dict[str, int] | str:
    left = {k: v for k, v in counts.items() if v}
    return left or "none"


async def unsent_rows(data_dir: Path | None = None) -> dict[str, int]:
    """Unsent outbox rows per service; `data_dir` is the runner's (its children's DATA_DIR)."""
    counts: dict[str, int] = {}
    for service in SERVICES:
        settings = service.settings()
        if data_dir is not None:
            settings = settings.model_copy(update={"data_dir": data_dir})
        engine = create_engine(settings.resolved_database_url, schema=settings.db_schema)
        try:
            async with engine.connect() as conn:
                counts[service.name] = int(
                    await conn.scalar(
                        text("SELECT count(*) FROM outbox_message WHERE sent_at IS NULL")
                    )
                    or 0
                )
        finally:
            await engine.dispose()
    return counts


def group_topics() -> dict[str, set[str]]:
    """Consumer group (= service) -> the topics it reads, from what its consumer.py handles."""
    return {
        group: {EVENT_TYPES[t].topic for t in types if t in EVENT_TYPES}
        for group, types in consumers().items()
    }


async def consumer_lag(bootstrap: str) -> dict[str, int]:
    """Per group: end offsets minus committed offsets over every partition it reads (a
    partition it never committed counts from its start). Read with a group member that never
    joins (Tansu answers the admin client's offset listing with a closed connection)."""
    lag: dict[str, int] = {}
    for group, topics in group_topics().items():
        reader = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=group,
            client_id="drain-reader",
            enable_auto_commit=False,
        )
        await reader.start()
        try:
            await reader.topics()
            partitions = [
                TopicPartition(topic, p)
                for topic in sorted(topics)
                for p in reader.partitions_for_topic(topic) or ()
            ]
            ends = await reader.end_offsets(partitions)
            behind = 0
            for tp in partitions:
                behind += max(0, ends[tp] - (await reader.committed(tp) or 0))
            lag[group] = behind
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(reader.stop(), 5)
    return lag


async def in_flight(
    bootstrap: str, data_dir: Path | None = None, timeout_s: float = 5.0
) -> InFlight:
    state = InFlight()
    try:
        state.unsent = await asyncio.wait_for(unsent_rows(data_dir), timeout_s)
    except Exception as exc:
        state.errors.append(f"outboxes ({type(exc).__name__}: {exc})")
    try:
        state.lag = await asyncio.wait_for(consumer_lag(bootstrap), timeout_s)
    except Exception as exc:
        state.errors.append(f"consumer lag ({type(exc).__name__}: {exc})")
    return state


async def wait_drained(
    bootstrap: str, within_s: float, data_dir: Path | None = None
) -> tuple[bool, InFlight]:
    """Poll until nothing is in flight or the time is up; the last measurement either way."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while True:
        state = await in_flight(bootstrap, data_dir)
        if state.empty or loop.time() >= deadline:
            return state.empty, state
        await asyncio.sleep(0.5)
