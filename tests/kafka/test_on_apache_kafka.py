"""The system on Apache Kafka: 3 KRaft brokers, topics of deploy/topics.yaml (RF 3, min ISR 2),
idempotent producers. Brokers killed with SIGKILL mid-stream, then a rebalance of two
replicas per service on PostgreSQL; each followed by a reconciliation: N complaints in →
N tickets, N acknowledgement SMS, every ticket routed with its clocks, no duplicates."""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from shared.kafka import describe_topics, topic_specs
from shared.kafka_cluster import KafkaCluster, kafka_version
from shared.runner import replica_port
from shared.topology import SERVICE_NAMES
from tests.conftest import _PG_PROBLEM, PG_URL
from tests.e2e.conftest import drop_schemas, postgres_env
from tests.e2e.reconcile import Stream, pid_listening_on, reconcile
from tests.e2e.test_replicas_postgres import _events, _wait_replicas_ready
from tests.kafka.conftest import PARTITIONS, system_on

TICKETS = "complaints.ticket.v1"
pytestmark = pytest.mark.timeout(600)


def _describe(
    cluster: KafkaCluster, names: list[str], within: float = 60
) -> dict[str, dict[str, object]]:
    """The topics as the cluster describes them; asks again while a just-restarted broker
    still refuses (the admin client may pick any node the metadata lists)."""
    deadline = time.monotonic() + within
    while True:
        try:
            return asyncio.run(describe_topics(cluster.bootstrap, names))
        except KafkaError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _busiest_leader(
    cluster: KafkaCluster, topic: str, exclude: frozenset[int] = frozenset()
) -> int:
    """The broker leading most partitions of `topic` (not one of `exclude`)."""
    leaders = _describe(cluster, [topic])[topic]["leaders"]
    assert isinstance(leaders, dict)
    counts = Counter(b for b in leaders.values() if b >= 0 and b not in exclude)
    return counts.most_common(1)[0][0]


def _until_sent(stream: Stream, count: int, within: float = 90) -> None:
    """Keep the stream going until `count` complaints landed (a loaded machine posts slower)."""
    deadline = time.monotonic() + within
    while len(stream.sent) < count and time.monotonic() < deadline:
        time.sleep(0.5)


def _wait_in_sync(cluster: KafkaCluster, within: float = 120) -> float:
    """Wait until every partition of every topic has all 3 replicas in sync; seconds taken."""
    names = [s.name for s in topic_specs()]
    start = time.monotonic()
    while True:
        described = _describe(cluster, names)
        lagging = [
            (name, p)
            for name, d in described.items()
            for p, isr in d["isr"].items()  # type: ignore[attr-defined]
            if len(isr) < 3
        ]
        if not lagging:
            return time.monotonic() - start
        assert time.monotonic() - start < within, f"replicas not in sync: {lagging[:5]}"
        time.sleep(0.5)


async def _read_all(bootstrap: str, topic: str) -> list[tuple[int, bytes, dict[str, bytes]]]:
    """Every record of `topic` from the beginning: (partition, key, headers)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"check-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        total = sum((await consumer.end_offsets(parts)).values())
        out: list[tuple[int, bytes, dict[str, bytes]]] = []
        deadline = time.monotonic() + 60
        while len(out) < total and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=1000)
            for tp, records in batch.items():
                out += [(tp.partition, r.key or b"", dict(r.headers)) for r in records]
        assert len(out) == total, f"read {len(out)} of {total} records"
        return out
    finally:
        await consumer.stop()


def _producer_ids(cluster: KafkaCluster, topic: str) -> set[str]:
    """Producer ids the brokers track on `topic` (idempotent producers only get one)."""
    from shared.kafka_cluster import ensure_classpath

    ids: set[str] = set()
    for partition in range(PARTITIONS):
        out = subprocess.run(
            [
                "java",
                "-cp",
                f"{ensure_classpath()}/*",
                "org.apache.kafka.tools.TransactionsCommand",
                "--bootstrap-server",
                cluster.bootstrap,
                "describe-producers",
                "--topic",
                topic,
                "--partition",
                str(partition),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for line in out.splitlines()[1:]:  # header: ProducerId ProducerEpoch ...
            if line.split():
                ids.add(line.split()[0])
    return ids


def test_the_cluster_holds_the_topics_of_topics_yaml(kafka3: KafkaCluster) -> None:
    specs = topic_specs()
    described = _describe(kafka3, [s.name for s in specs])
    print(f"\nApache Kafka {kafka_version()}, {len(kafka3.nodes)} brokers: {kafka3.bootstrap}")
    for spec in specs:
        d = described[spec.name]
        assert (d["partitions"], d["replication_factor"]) == (PARTITIONS, 3), spec.name
        config = d["config"]
        assert isinstance(config, dict)
        assert config["min.insync.replicas"] == "2", spec.name
        assert {k: config[k] for k in spec.config} == spec.config, spec.name


def test_leader_killed_then_a_second_broker_loses_and_doubles_nothing(
    kafka3: KafkaCluster, tmp_path: Path
) -> None:
    system = system_on(kafka3, tmp_path / "system")
    system.start()
    timeline: list[str] = []
    t0 = time.monotonic()

    def mark(what: str) -> None:
        timeline.append(f"{time.monotonic() - t0:5.1f}s {what}")

    try:
        with Stream(system.gateway, rate=6) as stream:
            time.sleep(4)
            first = _busiest_leader(kafka3, TICKETS)
            kafka3.kill(first)
            mark(f"kill -9 broker {first} (leader of most {TICKETS} partitions)")
            time.sleep(6)
            kafka3.restart(first)
            mark(f"broker {first} back")
            mark(f"all replicas in sync after {_wait_in_sync(kafka3):.1f}s")
            second = _busiest_leader(kafka3, TICKETS, exclude=frozenset({first}))
            kafka3.kill(second)
            mark(f"kill -9 broker {second}")
            time.sleep(6)
            kafka3.restart(second)
            mark(f"broker {second} back")
            _until_sent(stream, 30)
        mark(f"stream stopped after {len(stream.sent)} complaints")
        figures = reconcile(system, set(stream.sent.values()), within=180)
        mark("reconciled")
        records = asyncio.run(_read_all(kafka3.bootstrap, TICKETS))
        producers = _producer_ids(kafka3, TICKETS)
    finally:
        system.stop()
    print("\n" + "\n".join(timeline))
    print(
        f"two brokers killed in turn: {figures} (client retries: {stream.retries}); "
        f"{len(records)} records on {TICKETS}; idempotent producer ids: {sorted(producers)}"
    )
    assert figures["in"] == figures["tickets"] == figures["sms"] > 20

    ids = Counter(h["ce_id"] for _p, _k, h in records)
    assert [i for i, n in ids.items() if n > 1] == [], "an event was written twice"
    by_key: dict[bytes, list[tuple[int, str]]] = defaultdict(list)
    for partition, key, headers in records:
        by_key[key].append((partition, headers["ce_time"].decode()))
    for key, seen in by_key.items():
        assert len({p for p, _ in seen}) == 1, f"{key!r} spread over partitions"
        times = [t for _, t in seen]
        assert times == sorted(times), f"{key!r}: events out of order {times}"
    assert producers, "the services' producers are not idempotent on Apache Kafka"


@pytest.mark.skipif(_PG_PROBLEM is not None, reason=f"PostgreSQL: {_PG_PROBLEM}")
def test_two_replicas_on_postgresql_survive_a_rebalance_mid_stream(
    kafka3: KafkaCluster, tmp_path: Path
) -> None:
    prefix = f"k_{uuid.uuid4().hex[:8]}"
    system = system_on(kafka3, tmp_path / "system", replicas=2, env=postgres_env(PG_URL, prefix))
    try:
        system.start()
        _wait_replicas_ready(system)
        with Stream(system.gateway, rate=6) as stream:
            time.sleep(4)
            for index, _ in enumerate(SERVICE_NAMES):  # replica 1 dies: its partitions move
                port = replica_port(system.gateway_port, index, 1)
                subprocess.run(["kill", "-9", str(pid_listening_on(port))], check=True)
            time.sleep(8)  # the runner restarts them: a second rebalance
            _until_sent(stream, 30)
        figures = reconcile(system, set(stream.sent.values()), within=180)
        tickets = set(stream.sent.values())
        assigned = Counter(
            str(e["ticket_no"]) for e in _events(prefix, "routing", "TicketAssigned")
        )
        started = Counter(str(e["ticket_no"]) for e in _events(prefix, "sla", "SlaClocksStarted"))
    finally:
        system.stop()
        asyncio.run(drop_schemas(prefix))
    print(
        f"\ntwo replicas each on PostgreSQL, rebalanced mid-stream: {figures} "
        f"(client retries: {stream.retries})"
    )
    assert figures["in"] == figures["tickets"] == figures["sms"] > 20
    assert set(assigned) == tickets and set(assigned.values()) == {1}
    assert set(started) == tickets and set(started.values()) == {1}
