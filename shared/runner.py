"""`make run`: the whole system on its embedded default, in one command.

Starts the Tansu broker (memory storage), creates the topics, migrates and starts the
five services (SQLite files under the data folder) and the gateway, then waits. A service
or a broker that dies is restarted (a restarted broker is empty: the relays notice and
send their retained outbox rows again, see shared/epoch.py).

Ctrl-C (or SIGTERM) stops in order: the gateway first (no new requests), then a bounded
wait (`--drain-timeout`) for the outboxes to drain and the consumers to catch up, logging
what remains, then the services (each stops its consumers, then its relay), the broker last.

`--replicas N` runs N processes of every service (the gateway spreads requests over them);
with `<SERVICE>_DATABASE_URL` pointing at PostgreSQL this is the scale-out shape on one
machine. Replica r (from 0) of the i-th service listens on port-base + 10*r + i + 1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from shared.broker import Broker
from shared.drain import wait_drained
from shared.kafka import create_topics
from shared.migrations import upgrade
from shared.topology import GATEWAY_PORT, SERVICES, spec

LOG_CONFIG = Path(__file__).resolve().parent.parent / "deploy" / "logging.json"
"""JSON log lines with phone numbers masked, as in production."""


def _uvicorn(app: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--log-config",
        str(LOG_CONFIG),
    ]


def replica_port(port_base: int, service_index: int, replica: int) -> int:
    return port_base + 10 * replica + service_index + 1


class System:
    def __init__(
        self,
        data_dir: Path,
        gateway_port: int,
        port_base: int,
        broker_port: int,
        replicas: int = 1,
        kafka_bootstrap: str | None = None,
    ):
        self.data_dir = data_dir.resolve()
        self.gateway_port = gateway_port
        self.ports = {
            s.name: [replica_port(port_base, i, r) for r in range(replicas)]
            for i, s in enumerate(SERVICES)
        }
        self.kafka_bootstrap = kafka_bootstrap
        """An external Kafka cluster (its topics already created); None runs the embedded one."""
        self.broker = Broker(broker_port, log_path=self.data_dir / "broker.log")
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.stopping = False

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "DATA_DIR": str(self.data_dir),
                "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap or self.broker.bootstrap,
            }
        )
        for name, ports in self.ports.items():
            env[f"{name.upper()}_PORT"] = str(ports[0])
            env[f"GATEWAY_UPSTREAM_{name.upper()}"] = ",".join(
                f"http://127.0.0.1:{port}" for port in ports
            )
        return env

    def spawn(self, child: str) -> None:
        """Start a child: `gateway`, `<service>` (replica 0) or `<service>#<replica>`."""
        name, _, replica = child.partition("#")
        if name == "gateway":
            cmd = _uvicorn("shared.gateway:create_app", self.gateway_port)
        else:
            cmd = _uvicorn(spec(name).app, self.ports[name][int(replica or 0)])
        # A session of its own: Ctrl-C reaches the runner only, which stops children in order.
        self.children[child] = subprocess.Popen(
            cmd, env={**self.env(), "OTEL_SERVICE_NAME": name}, start_new_session=True
        )

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.kafka_bootstrap is None:
            self.broker.start()
            asyncio.run(create_topics(self.broker.bootstrap))
        os.environ["DATA_DIR"] = str(self.data_dir)
        for service in SERVICES:
            settings = service.settings()
            upgrade(service.name, settings.resolved_database_url, settings.db_schema)
        for service in SERVICES:
            for replica, _ in enumerate(self.ports[service.name]):
                self.spawn(service.name if replica == 0 else f"{service.name}#{replica}")
        self.spawn("gateway")

    def wait_ready(self, timeout_s: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout_s
        url = f"http://127.0.0.1:{self.gateway_port}/readyz"
        while time.monotonic() < deadline and not self.stopping:
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        return False

    def supervise(self) -> None:
        """Restart children and the broker when they die, until asked to stop."""
        while not self.stopping:
            process = self.broker.process
            if process is not None and process.poll() is not None and not self.stopping:
                print(
                    f"[run] broker exited with {process.returncode}; restarting it (empty: "
                    "the relays re-publish their retained outbox rows)",
                    flush=True,
                )
                self.broker.stop()
                self.broker.start()
                asyncio.run(create_topics(self.broker.bootstrap))
            for name, child in list(self.children.items()):
                if child.poll() is not None and not self.stopping:
                    print(f"[run] {name} exited with {child.returncode}; restarting", flush=True)
                    time.sleep(1)
                    self.spawn(name)
            time.sleep(0.5)

    def stop(self, drain_timeout_s: float = 20.0) -> None:
        """Gateway, then a bounded drain, then the services, then the broker."""
        self.stopping = True
        gateway = {k: c for k, c in self.children.items() if k == "gateway"}
        services = {k: c for k, c in self.children.items() if k != "gateway"}
        self._terminate(gateway, 5)
        if self.broker.process is not None and self.broker.process.poll() is None:
            drained, left = asyncio.run(
                wait_drained(self.broker.bootstrap, drain_timeout_s, self.data_dir)
            )
            if drained:
                print("[run] drained: outboxes empty, consumers caught up", flush=True)
            else:
                print(
                    f"[run] stopping with work left after {drain_timeout_s:.0f}s: {left}",
                    flush=True,
                )
        self._terminate(services, 20)
        self.broker.stop()

    @staticmethod
    def _terminate(children: dict[str, subprocess.Popen[bytes]], within_s: float) -> None:
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
                child.send_signal(signal.SIGCONT)  # a paused child can stop too
        for name, child in children.items():
            try:
                child.wait(within_s)
            except subprocess.TimeoutExpired:
                print(f"[run] {name} did not stop in {within_s:.0f}s; killed", flush=True)
                child.kill()
                child.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("DATA_DIR", "data")))
    parser.add_argument("--gateway-port", type=int, default=GATEWAY_PORT)
    parser.add_argument(
        "--port-base",
        type=int,
        default=GATEWAY_PORT,
        help="services listen on port-base+1 .. port-base+5",
    )
    parser.add_argument("--broker-port", type=int, default=9092)
    parser.add_argument(
        "--kafka-bootstrap",
        default=None,
        help="use this Kafka cluster (topics created) instead of the embedded broker",
    )
    parser.add_argument("--replicas", type=int, default=1, help="processes per service (default 1)")
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=float(os.environ.get("RUN_DRAIN_TIMEOUT_S", "20")),
        help="on stop, how long to wait for outboxes to drain and consumers to catch up",
    )
    args = parser.parse_args(argv)
    system = System(
        args.data_dir,
        args.gateway_port,
        args.port_base,
        args.broker_port,
        args.replicas,
        kafka_bootstrap=args.kafka_bootstrap,
    )

    def _stop(signum: int, _frame: object) -> None:
        system.stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        system.start()
        if system.wait_ready():
            print(
                f"[run] ready: http://127.0.0.1:{args.gateway_port}  "
                f"(API docs: http://127.0.0.1:{args.gateway_port}/docs; "
                f"data: {system.data_dir}; Ctrl-C stops)",
                flush=True,
            )
        elif not system.stopping:
            print("[run] services did not become ready; see the logs above", flush=True)
        system.supervise()
    finally:
        print("[run] stopping", flush=True)
        system.stop(args.drain_timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
