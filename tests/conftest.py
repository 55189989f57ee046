"""Real parts: a Tansu broker per test, SQLite always, PostgreSQL when reachable.

PostgreSQL comes from TEST_DATABASE_URL (default: the CI server on 127.0.0.1:5432). Under
CI=true a missing PostgreSQL fails the run instead of skipping. Each PostgreSQL test gets a
schema of its own, dropped afterwards.
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy.engine import make_url

from shared.broker import Broker, free_port
from shared.kafka import create_topics, make_producer

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
PG_URL = os.environ.get("TEST_DATABASE_URL", DEFAULT_PG)
IN_CI = os.environ.get("CI", "").lower() == "true"


def _pg_dsn() -> str:
    return make_url(PG_URL).set(drivername="postgresql").render_as_string(hide_password=False)


async def _pg_reachable() -> str | None:
    try:
        conn = await asyncio.wait_for(asyncpg.connect(_pg_dsn()), 5)
        await conn.close()
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


_PG_PROBLEM: str | None = asyncio.run(_pg_reachable())


def pytest_sessionstart(session: pytest.Session) -> None:
    if _PG_PROBLEM and IN_CI:
        raise pytest.UsageError(f"CI=true but PostgreSQL at {PG_URL} is unreachable: {_PG_PROBLEM}")


@pytest.fixture(autouse=True)
async def _dump_tasks_before_timeout(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """A test about to hit pytest-timeout prints every asyncio task's stack first (the
    timeout itself shows only threads, and all the tests share one event loop)."""
    marker = request.node.get_closest_marker("timeout")
    limit = (
        float(marker.args[0])
        if marker and marker.args
        else float(request.config.getini("timeout") or 0)
    )
    if limit <= 0:
        yield
        return

    def dump() -> None:
        out = io.StringIO()
        for task in asyncio.all_tasks():
            task.print_stack(limit=12, file=out)
        sys.stderr.write(f"\n--- asyncio tasks of {request.node.nodeid} ---\n{out.getvalue()}")

    handle = asyncio.get_running_loop().call_later(max(limit - 5, limit * 0.9), dump)
    try:
        yield
    finally:
        handle.cancel()


@dataclass(frozen=True)
class DbTarget:
    """A database for one test: a URL and (PostgreSQL) a schema of its own."""

    kind: str
    url: str
    schema: str | None


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_target(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DbTarget]:
    if request.param == "sqlite":
        yield DbTarget("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'test.db'}", None)
        return
    if _PG_PROBLEM:
        pytest.skip(f"PostgreSQL unreachable: {_PG_PROBLEM}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    yield DbTarget("postgresql", PG_URL, schema)
    conn = await asyncpg.connect(_pg_dsn())
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture
async def producer(broker: Broker) -> AsyncIterator[AIOKafkaProducer]:
    """A producer on the test's broker, for sending events the way services do."""
    p = make_producer(broker.bootstrap, client_id="test")
    await p.start()
    yield p
    await p.stop()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A fresh Tansu broker (memory storage) with every topic created."""
    with Broker(free_port(), log_path=tmp_path / "broker.log") as b:
        asyncio.run(create_topics(b.bootstrap, partitions=3))
        yield b
