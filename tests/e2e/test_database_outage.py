"""The whole system's database goes away mid-stream (every service on PostgreSQL through a
relay the test cuts): callers get 503 problem+json and retry, consumers wait for the
database instead of dead-lettering, and once it is back everything reconciles."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.builders import auth, complaint
from tests.conftest import _PG_PROBLEM, PG_URL
from tests.e2e.conftest import System, drop_schemas, postgres_env
from tests.e2e.reconcile import Stream, reconcile
from tests.tcp_relay import ThreadedRelay

pytestmark = pytest.mark.skipif(_PG_PROBLEM is not None, reason=f"PostgreSQL: {_PG_PROBLEM}")


@pytest.fixture
def behind_relay(tmp_path: Path) -> Iterator[tuple[System, ThreadedRelay]]:
    url = make_url(PG_URL)
    relay = ThreadedRelay(url.host or "127.0.0.1", url.port or 5432)
    relay.start()
    via_relay = url.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)
    prefix = f"o_{uuid.uuid4().hex[:8]}"
    system = System(tmp_path, env=postgres_env(via_relay, prefix))
    try:
        system.start()
        yield system, relay
    finally:
        if system.proc and system.proc.poll() is None:
            system.stop()
        relay.close()
        asyncio.run(drop_schemas(prefix))


def test_a_database_outage_mid_stream_loses_and_doubles_nothing(
    behind_relay: tuple[System, ThreadedRelay],
) -> None:
    system, relay = behind_relay
    with Stream(system.gateway, rate=8) as stream:
        time.sleep(3)
        before = len(stream.sent)
        relay.cut()
        time.sleep(1)
        down = httpx.post(
            system.gateway + "/v1/complaints",
            json=complaint(),
            headers={**auth("agent"), "Idempotency-Key": uuid.uuid4().hex},
            timeout=15,
        )
        time.sleep(5)
        during = len(stream.sent) - before
        relay.start()
        time.sleep(4)
    assert down.status_code == 503, down.text
    assert down.headers["content-type"].startswith("application/problem+json")
    assert down.headers["retry-after"] == "5"

    figures = reconcile(system, set(stream.sent.values()), within=120)
    print(
        f"\ndatabase outage (6 s): {figures}; accepted during the outage: {during}; "
        f"client retries: {stream.retries}"
    )
    assert figures["in"] == figures["tickets"] == figures["sms"] > 10
    assert stream.retries > 0 and during <= 1
