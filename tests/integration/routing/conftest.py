"""Routing's alerts are proven through to notify's real SMTP and SMPP peers: its fixtures,
and routing on a database of its own next to notify's."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest

from services.routing.app import create_app
from services.routing.settings import RoutingSettings
from shared.broker import Broker
from shared.service import Runtime
from tests.builders import running, settings_for
from tests.conftest import DbTarget, _pg_dsn
from tests.integration.notify.conftest import mailbox, notify_app, smsc

__all__ = ["mailbox", "notify_app", "smsc"]
RoutingFactory = Callable[..., AbstractAsyncContextManager[tuple[httpx.AsyncClient, Runtime]]]


@pytest.fixture
async def routing_target(db_target: DbTarget, tmp_path: Any) -> AsyncIterator[DbTarget]:
    """Routing's own database next to notify's (each service owns one)."""
    if db_target.kind == "sqlite":
        yield DbTarget("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'routing.db'}", None)
        return
    schema = f"{db_target.schema}_r"
    yield DbTarget("postgresql", db_target.url, schema)
    conn = await asyncpg.connect(_pg_dsn())
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture
def routing_app(routing_target: DbTarget, broker: Broker) -> RoutingFactory:
    """Start routing (surge worker every 0.1 s) with settings overridden by keyword."""

    @asynccontextmanager
    async def start(**kw: Any) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
        kw.setdefault("surge_interval_s", 0.1)
        settings = settings_for(RoutingSettings, routing_target, broker.bootstrap, **kw)
        async with running(create_app(settings)) as pair:
            yield pair

    return start


@pytest.fixture
async def routing(routing_app: RoutingFactory) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    async with routing_app() as pair:
        yield pair
