"""The scale-out shape on one machine: two processes of every service against PostgreSQL and
the local broker, the gateway spreading requests over them, one replica of routing and of
sla killed mid-stream. Nothing is processed twice and no clock fires twice.

Overdue complaints (classified 30 hours ago, as a delayed event would arrive) make both SLA
replicas race to fire the same warnings and breaches, and both routing replicas to escalate.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest

from shared.cloudevents import Envelope, encode
from shared.kafka import make_producer
from shared.runner import replica_port
from shared.topology import SERVICE_NAMES, SERVICES
from tests.builders import classified
from tests.conftest import _PG_PROBLEM, PG_URL, _pg_dsn
from tests.e2e.conftest import System, drop_schemas, postgres_env
from tests.e2e.reconcile import Stream, pid_listening_on, reconcile

OVERDUE = 6
pytestmark = pytest.mark.skipif(_PG_PROBLEM is not None, reason=f"PostgreSQL: {_PG_PROBLEM}")


@pytest.fixture
def replicated(tmp_path: Path) -> Iterator[tuple[System, str]]:
    prefix = f"r_{uuid.uuid4().hex[:8]}"
    system = System(tmp_path, replicas=2, env=postgres_env(PG_URL, prefix))
    try:
        system.start()
        yield system, prefix
    finally:
        if system.proc and system.proc.poll() is None:
            system.stop()
        asyncio.run(drop_schemas(prefix))


async def _rows(prefix: str, service: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(_pg_dsn(), server_settings={"search_path": f"{prefix}_{service}"})
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


def _events(prefix: str, service: str, event_type: str) -> list[dict[str, object]]:
    sql = f"SELECT value FROM outbox_message WHERE event_type = '{event_type}'"
    return [json.loads(r["value"]) for r in asyncio.run(_rows(prefix, service, sql))]


async def _publish_overdue(bootstrap: str, tickets: list[str]) -> None:
    received = datetime.now(UTC) - timedelta(hours=30)
    producer = make_producer(bootstrap, client_id="late-intake")
    await producer.start()
    try:
        for ticket_no in tickets:
            event = classified(ticket_no, received_at=received)
            key, value, headers = encode(Envelope(event=event, source="/complaints/intake"))
            await producer.send_and_wait(event.topic, value=value, key=key, headers=headers)
    finally:
        await producer.stop()


def _wait_replicas_ready(system: System) -> None:
    deadline = time.monotonic() + 90
    for i, _ in enumerate(SERVICES):
        for r in range(2):
            url = f"http://127.0.0.1:{replica_port(system.gateway_port, i, r)}/readyz"
            while True:
                try:
                    if httpx.get(url, timeout=3).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, f"{url} not ready:\n{system.log()}"
                time.sleep(0.3)


def _until(probe: object, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not probe():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.5)


def test_two_replicas_of_every_service_on_postgresql_process_once_and_fire_once(
    replicated: tuple[System, str],
) -> None:
    system, prefix = replicated
    _wait_replicas_ready(system)
    bootstrap = f"127.0.0.1:{system.args[system.args.index('--broker-port') + 1]}"
    overdue = [f"OD-{uuid.uuid4().hex[:6].upper()}-{n}" for n in range(OVERDUE)]
    routing = SERVICE_NAMES.index("routing")
    sla = SERVICE_NAMES.index("sla")

    with Stream(system.gateway, rate=8) as stream:
        time.sleep(3)
        asyncio.run(_publish_overdue(bootstrap, overdue))
        for index in (routing, sla):  # replica 0 dies; replica 1 takes its partitions
            os.kill(pid_listening_on(replica_port(system.gateway_port, index, 0)), signal.SIGKILL)
        time.sleep(5)
    figures = reconcile(system, set(stream.sent.values()), within=120)
    print(f"\ntwo replicas each on PostgreSQL: {figures} (client retries: {stream.retries})")
    assert figures["in"] == figures["tickets"] == figures["sms"] > 10

    tickets = set(stream.sent.values())
    assigned = Counter(str(e["ticket_no"]) for e in _events(prefix, "routing", "TicketAssigned"))
    assert set(assigned) == tickets | set(overdue)
    assert set(assigned.values()) == {1}, "a classification was dispatched twice"
    started = Counter(str(e["ticket_no"]) for e in _events(prefix, "sla", "SlaClocksStarted"))
    assert set(started) == tickets | set(overdue) and set(started.values()) == {1}

    def breached() -> list[dict[str, object]]:
        return _events(prefix, "sla", "SlaBreached")

    _until(lambda: {str(e["ticket_no"]) for e in breached()} >= set(overdue))
    time.sleep(3)  # both SLA replicas keep ticking: a second firing would show up now
    fired = Counter((str(e["ticket_no"]), str(e["clock"])) for e in breached())
    assert fired == Counter({(t, "acceptance"): 1 for t in overdue})
    warned = Counter(
        (str(e["ticket_no"]), str(e["clock"]), str(e["threshold"]))
        for e in _events(prefix, "sla", "SlaWarning")
    )
    assert warned and set(warned.values()) == {1}

    _until(
        lambda: (
            {
                str(e["ticket_no"])
                for e in _events(prefix, "routing", "TicketEscalated")
                if e["trigger"] == "sla_breach"
            }
            >= set(overdue)
        )
    )
    escalations = Counter(
        str(e["ticket_no"])
        for e in _events(prefix, "routing", "TicketEscalated")
        if e["trigger"] == "sla_breach"
    )
    assert escalations == Counter({t: 1 for t in overdue})

    sent = asyncio.run(
        _rows(
            prefix,
            "notify",
            "SELECT ticket_no, template, recipient, count(*) AS n FROM notification "
            "GROUP BY ticket_no, template, recipient, body HAVING count(*) > 1",
        )
    )
    assert sent == [], f"notifications sent twice: {sent[:5]}"
