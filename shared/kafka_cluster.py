"""Apache Kafka on loopback, from Maven Central jars: the production broker, run locally.

`deploy/kafka/pom.xml` assembles the broker's class path (kafka_2.13 and a log4j2
binding) into `deploy/kafka/target/lib` (git-ignored) with `mvn dependency:copy-dependencies`;
this module formats KRaft storage and runs 1 or 3 combined controller+broker nodes
(`process.roles=broker,controller`, static voters) on loopback ports, waits until every
broker is registered, and stops, kills or restarts single nodes for fault tests.

    python -m shared.kafka_cluster --brokers 3 --dir .kafka   # prints the bootstrap, Ctrl-C stops

The cluster's settings are the production ones of deploy/ that matter for the guarantees
(replication 3, min.insync.replicas 2, no unclean leader election, no auto-created topics),
with shorter failure-detection timeouts so that a killed broker is noticed in seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import IO

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

DESCRIPTOR = Path(__file__).resolve().parent.parent / "deploy" / "kafka"
LIB = DESCRIPTOR / "target" / "lib"
LOG_CONFIG = DESCRIPTOR / "log4j2.properties"


def java_available() -> str | None:
    """None when `java` and `mvn` are on PATH (or the class path is already assembled)."""
    if not shutil.which("java"):
        return "java is not on PATH"
    if not LIB.is_dir() and not shutil.which("mvn"):
        return "mvn is not on PATH and deploy/kafka/target/lib is not assembled"
    return None


def ensure_classpath() -> Path:
    """Assemble the broker's jars with Maven once (Maven Central only); return the folder."""
    marker = LIB / ".complete"
    pom = DESCRIPTOR / "pom.xml"
    if marker.exists() and marker.stat().st_mtime >= pom.stat().st_mtime:
        return LIB
    shutil.rmtree(LIB, ignore_errors=True)
    subprocess.run(
        ["mvn", "-q", "-B", "-f", str(pom), "dependency:copy-dependencies"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    marker.touch()
    return LIB


def kafka_version() -> str:
    """The broker version the class path holds (from its jar's name)."""
    for jar in ensure_classpath().glob("kafka_2.13-*.jar"):
        return jar.name.removeprefix("kafka_2.13-").removesuffix(".jar")
    raise RuntimeError("kafka_2.13 jar missing from the class path")


def _free_ports(n: int) -> list[int]:
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


class Node:
    """One combined controller+broker process."""

    def __init__(self, node_id: int, root: Path, broker_port: int, controller_port: int) -> None:
        self.node_id = node_id
        self.dir = root / f"node{node_id}"
        self.broker_port = broker_port
        self.controller_port = controller_port
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.broker_port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class KafkaCluster:
    """1 or 3 KRaft nodes on loopback. `with KafkaCluster(path, brokers=3) as c: c.bootstrap`."""

    def __init__(self, root: Path, *, brokers: int = 3, heap: str = "320m") -> None:
        if brokers not in (1, 3):
            raise ValueError("brokers must be 1 or 3")
        self.root = root.resolve()
        self.heap = heap
        ports = _free_ports(2 * brokers)
        self.nodes = [
            Node(i + 1, self.root, ports[2 * i], ports[2 * i + 1]) for i in range(brokers)
        ]
        self.cluster_id = ""

    @property
    def bootstrap(self) -> str:
        return ",".join(n.address for n in self.nodes)

    @property
    def replication(self) -> int:
        return len(self.nodes)

    def _properties(self, node: Node) -> str:
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes)
        rf = len(self.nodes)
        min_isr = 2 if rf == 3 else 1
        return "\n".join(
            [
                "process.roles=broker,controller",
                f"node.id={node.node_id}",
                f"controller.quorum.voters={voters}",
                f"listeners=PLAINTEXT://127.0.0.1:{node.broker_port},"
                f"CONTROLLER://127.0.0.1:{node.controller_port}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{node.broker_port}",
                "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "inter.broker.listener.name=PLAINTEXT",
                f"log.dirs={node.dir / 'data'}",
                # the guarantees of deploy/topics.yaml, cluster-wide
                f"default.replication.factor={rf}",
                f"min.insync.replicas={min_isr}",
                f"offsets.topic.replication.factor={rf}",
                f"transaction.state.log.replication.factor={rf}",
                f"transaction.state.log.min.isr={min_isr}",
                "unclean.leader.election.enable=false",
                "auto.create.topics.enable=false",
                # a killed node is noticed in seconds, not the defaults' tens of seconds
                "broker.session.timeout.ms=4000",
                "broker.heartbeat.interval.ms=500",
                "controller.quorum.fetch.timeout.ms=2000",
                "controller.quorum.election.timeout.ms=1000",
                "replica.lag.time.max.ms=5000",
                "group.initial.rebalance.delay.ms=0",
                "num.partitions=3",
                "log.segment.bytes=16777216",
                "",
            ]
        )

    def _java(self, *args: str) -> list[str]:
        return [
            "java",
            f"-Xmx{self.heap}",
            "-Xss512k",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={LOG_CONFIG}",
            "-cp",
            f"{ensure_classpath()}/*",
            *args,
        ]

    def start(self, timeout_s: float = 90.0) -> KafkaCluster:
        ensure_classpath()
        self.root.mkdir(parents=True, exist_ok=True)
        self.cluster_id = _random_cluster_id()
        for node in self.nodes:
            shutil.rmtree(node.dir, ignore_errors=True)
            node.dir.mkdir(parents=True)
            (node.dir / "server.properties").write_text(self._properties(node))
            subprocess.run(
                self._java(
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    self.cluster_id,
                    "-c",
                    str(node.dir / "server.properties"),
                ),
                check=True,
                stdout=subprocess.DEVNULL,
            )
        for node in self.nodes:
            self._spawn(node)
        asyncio.run(self.wait_brokers(len(self.nodes), timeout_s))
        return self

    def _spawn(self, node: Node) -> None:
        node._log = (node.dir / "broker.log").open("ab")
        node.process = subprocess.Popen(
            self._java("kafka.Kafka", str(node.dir / "server.properties")),
            stdout=node._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    async def wait_brokers(self, count: int, timeout_s: float = 90.0) -> None:
        """Wait until `count` brokers are registered in the cluster's metadata."""
        deadline = time.monotonic() + timeout_s
        last: object = None
        while time.monotonic() < deadline:
            for node in self.nodes:
                if node.process is not None and node.process.poll() is not None:
                    raise RuntimeError(f"kafka node {node.node_id} exited: {self.log_tail(node)}")
            live = ",".join(n.address for n in self.nodes if n.running)
            admin = AIOKafkaAdminClient(bootstrap_servers=live, request_timeout_ms=3000)
            try:
                await admin.start()
                described = await admin.describe_cluster()
                if len(described["brokers"]) >= count:
                    return
                last = described["brokers"]
            except (KafkaError, OSError) as exc:
                last = exc
            finally:
                await admin.close()
            await asyncio.sleep(0.5)
        raise TimeoutError(f"{count} kafka brokers not ready in {timeout_s}s: {last}")

    def node(self, node_id: int) -> Node:
        return next(n for n in self.nodes if n.node_id == node_id)

    def kill(self, node_id: int) -> None:
        """kill -9 one node: no shutdown, no flush, no leadership hand-over."""
        node = self.node(node_id)
        if node.process and node.running:
            os.kill(node.process.pid, signal.SIGKILL)
            node.process.wait()

    def restart(self, node_id: int, timeout_s: float = 90.0) -> None:
        node = self.node(node_id)
        if node.running:
            self.kill(node_id)
        self._spawn(node)
        # The cluster may still list the killed node (its session has not expired yet), so
        # counting registered brokers proves nothing: wait for this node itself to answer.
        asyncio.run(self.wait_node(node_id, timeout_s))
        asyncio.run(self.wait_brokers(len(self.nodes), timeout_s))

    async def wait_node(self, node_id: int, timeout_s: float = 90.0) -> None:
        """Wait until `node_id` itself answers a metadata request and lists itself."""
        node = self.node(node_id)
        deadline = time.monotonic() + timeout_s
        last: object = None
        while time.monotonic() < deadline:
            if node.process is not None and node.process.poll() is not None:
                raise RuntimeError(f"kafka node {node_id} exited: {self.log_tail(node)}")
            admin = AIOKafkaAdminClient(bootstrap_servers=node.address, request_timeout_ms=3000)
            try:
                await admin.start()
                described = await admin.describe_cluster()
                if any(b["node_id"] == node_id for b in described["brokers"]):
                    return
                last = described["brokers"]
            except (KafkaError, OSError) as exc:
                last = exc
            finally:
                await admin.close()
            await asyncio.sleep(0.5)
        raise TimeoutError(f"kafka node {node_id} not answering in {timeout_s}s: {last}")

    def stop(self) -> None:
        for node in self.nodes:
            if node.process and node.running:
                node.process.terminate()
        for node in self.nodes:
            if node.process:
                try:
                    node.process.wait(20)
                except subprocess.TimeoutExpired:
                    node.process.kill()
                    node.process.wait()
            if node._log:
                node._log.close()
                node._log = None

    def log_tail(self, node: Node, chars: int = 3000) -> str:
        path = node.dir / "broker.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def __enter__(self) -> KafkaCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _random_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (22 chars)."""
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--brokers", type=int, default=3, choices=(1, 3))
    parser.add_argument("--dir", type=Path, default=Path(".kafka"))
    args = parser.parse_args(argv)
    cluster = KafkaCluster(args.dir, brokers=args.brokers)
    stopping = False

    def _stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    cluster.start()
    print(
        f"[kafka] {kafka_version()} ready: KAFKA_BOOTSTRAP_SERVERS={cluster.bootstrap}", flush=True
    )
    try:
        while not stopping:
            time.sleep(0.5)
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
