"""Kafka plumbing: producer factory and topics as code."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
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


def make_producer(bootstrap: str, *, client_id: str, idempotent: bool = False) -> AIOKafkaProducer:
    """A producer that waits for all in-sync replicas.

    `idempotent` (setting KAFKA_ENABLE_IDEMPOTENCE) turns on the idempotent producer where
    the broker supports it (Apache Kafka): a retried batch is written once and in order,
    so one ticket's events keep their order across a leader change. The embedded Tansu
    broker lacks it, hence off by default; the outbox + inbox keep the guarantees either way.
    """
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=idempotent,
        linger_ms=2,
        request_timeout_ms=15000,
    )


@dataclass(frozen=True)
class TopicSpec:
    """One topic of deploy/topics.yaml."""

    name: str
    partitions: int
    replication_factor: int
    config: dict[str, str]


TOPICS_YAML = Path(__file__).resolve().parent.parent / "deploy" / "topics.yaml"


def topic_specs(path: Path = TOPICS_YAML) -> list[TopicSpec]:
    """The topics as code, read from deploy/topics.yaml."""
    import yaml

    doc = yaml.safe_load(path.read_text())
    return [
        TopicSpec(
            name,
            int(t["partitions"]),
            int(t["replication_factor"]),
            {k: str(v) for k, v in (t.get("config") or {}).items()},
        )
        for name, t in doc["topics"].items()
    ]


async def create_topics_from_specs(
    bootstrap: str, specs: list[TopicSpec], *, partitions: int | None = None
) -> None:
    """Create the topics of `specs` with their replication and configs (`partitions` overrides
    the count, for a small local cluster); existing topics are left alone."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="topic-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = [
            NewTopic(
                s.name, partitions or s.partitions, s.replication_factor, topic_configs=s.config
            )
            for s in specs
            if s.name not in existing
        ]
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(new)
    finally:
        await admin.close()


async def describe_topics(bootstrap: str, names: list[str]) -> dict[str, dict[str, object]]:
    """Per topic: partition count, replication factor and the configs the cluster holds."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="topic-admin")
    await admin.start()
    try:
        out: dict[str, dict[str, object]] = {}
        for meta in await admin.describe_topics(names):
            parts = meta["partitions"]
            out[meta["topic"]] = {
                "partitions": len(parts),
                "replication_factor": min(len(p["replicas"]) for p in parts) if parts else 0,
                "leaders": {p["partition"]: p["leader"] for p in parts},
                "isr": {p["partition"]: sorted(p["isr"]) for p in parts},
                "config": {},
            }
        resources = [ConfigResource(ConfigResourceType.TOPIC, n) for n in names]
        for response in await admin.describe_configs(resources):
            for _err, _msg, _rtype, rname, entries in response.resources:
                cfg = out[rname]["config"]
                assert isinstance(cfg, dict)
                for entry in entries:
                    cfg[entry[0]] = entry[1]
        return out
    finally:
        await admin.close()


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
