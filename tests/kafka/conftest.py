"""The production path: Apache Kafka (KRaft, 3 brokers, RF 3, min ISR 2) from Maven Central
jars, the system started as `make run` starts it, pointed at the cluster.

`make test-kafka` runs this tier (`make test` calls it last). Without Java and Maven it
skips, except under CI=true where a missing broker is a failure."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.kafka import create_topics_from_specs, topic_specs
from shared.kafka_cluster import KafkaCluster, java_available
from tests.conftest import IN_CI
from tests.e2e.conftest import System

PARTITIONS = 6
"""Fewer than deploy/topics.yaml's 12 so that a 2-core machine starts the cluster quickly;
replication and every topic config are the file's own."""


def _require_java() -> None:
    problem = java_available()
    if problem and IN_CI:
        pytest.fail(f"CI=true but Apache Kafka cannot run here: {problem}")
    if problem:
        pytest.skip(f"Apache Kafka tier: {problem}")


@pytest.fixture
def kafka3(tmp_path: Path) -> Iterator[KafkaCluster]:
    """A fresh 3-broker cluster with the topics of deploy/topics.yaml."""
    _require_java()
    with KafkaCluster(tmp_path / "kafka", brokers=3) as cluster:
        asyncio.run(
            create_topics_from_specs(cluster.bootstrap, topic_specs(), partitions=PARTITIONS)
        )
        yield cluster


def system_on(
    cluster: KafkaCluster, data_dir: Path, *, replicas: int = 1, env: dict[str, str] | None = None
) -> System:
    """The runner (services and gateway, no embedded broker) on the cluster, idempotent on."""
    data_dir.mkdir(parents=True, exist_ok=True)
    system = System(
        data_dir,
        replicas=replicas,
        env={"KAFKA_ENABLE_IDEMPOTENCE": "true", "KAFKA_BROKER_EPOCH": "false", **(env or {})},
    )
    system.args += ["--kafka-bootstrap", cluster.bootstrap]
    return system
