"""Kafka plumbing: producer factory and topics as code."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from shared.events import TOPICS, dead_letter_topic

log = logging.getLogger(__name__)

SERVICES = ("intake", "routing", "sla", "refund", "notify")
DEFAULT_PARTITIONS = 6
EPOCH_TOPIC = "complaints.epoch.v1"
"""One partition; its first record names the broker's epoch (shared/epoch.py)."""


def all_topics() -> list[str]:
    """Every topic the system uses: the five event topics and one dead-letter topic per service."""
    return [*TOPICS, *(dead_letter_topic(s) for s in SERVICES)]


def make_producer(bootstrap: str, *, client_id: str) -> AIOKafkaProducer:
    """A producer that waits for all in-sync replicas (the broker lacks idempotence support)."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=False,
        linger_ms=2,
        request_timeout_ms=15000,
    )


async def create_topics(
    bootstrap: str,
    topics: list[str] | None = None,
    *,
    partitions: int = DEFAULT_PARTITIONS,
    replication: int = 1,
    timeout_s: float = 30.0,
) -> None:
    """Create missing topics (by default every topic and the epoch marker, which has one
    partition); retries while the broker is still starting."""
    wanted = topics or [*all_topics(), EPOCH_TOPIC]
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="topic-admin")
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [t for t in wanted if t not in existing]
            if missing:
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(
                        [
                            NewTopic(t, 1 if t == EPOCH_TOPIC else partitions, replication)
                            for t in missing
                        ]
                    )
            return
        except KafkaError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)
        finally:
            await admin.close()


async def broker_reachable(bootstrap: str, timeout_s: float = 2.0) -> bool:
    """True if the broker answers a metadata request."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="readiness", request_timeout_ms=int(timeout_s * 1000)
    )
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        await asyncio.wait_for(admin.list_topics(), timeout_s)
        return True
    except (TimeoutError, KafkaError, OSError):
        return False
    finally:
        await admin.close()
