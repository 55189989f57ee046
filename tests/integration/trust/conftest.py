"""The five services in one process, on a real broker and SQLite or PostgreSQL (a schema each),
relays and consumers on: the walking skeleton without the subprocesses, so trust tests can ask
every route as every kind of caller and read every record the system published."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from shared.broker import Broker
from shared.service import Runtime
from shared.topology import SERVICES, owner_of
from tests.builders import running, settings_for
from tests.conftest import DbTarget, _pg_dsn

PARTNER_SP = "partner-sp"
SP_CODE = "SP900123"
SHARED = {
    "access_sub_units": {"customer_service_centre": ["frontdesk_10086", "service_hall"]},
    "access_partner_sp_codes": {PARTNER_SP: [SP_CODE]},
}
OWN = {
    "notify": {
        "sinks_enabled": False,
        "quiet_hours_start": time(0, 0),
        "quiet_hours_end": time(0, 0),
        "dispatch_interval_s": 0.05,
    },
}


def app_factory(name: str) -> Any:
    spec = next(s for s in SERVICES if s.name == name)
    module, attr = spec.app.split(":")
    return getattr(importlib.import_module(module), attr)


def settings_class(name: str) -> Any:
    module = importlib.import_module(f"services.{name}.settings")
    return getattr(module, f"{name.capitalize()}Settings")


@dataclass
class System:
    """Each service's in-process client and runtime; `request` routes as the gateway does."""

    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)
    runtimes: dict[str, Runtime] = field(default_factory=dict)
    apps: dict[str, FastAPI] = field(default_factory=dict)

    async def request(
        self, method: str, path: str, *, service: str | None = None, **kw: Any
    ) -> httpx.Response:
        """Ask `service`, or the one the gateway sends `path` to."""
        if service is None:
            spec = owner_of(path.split("?")[0])
            assert spec is not None, f"the gateway routes no {path}"
            service = spec.name
        return await self.clients[service].request(method, path, **kw)


def _target_for(target: DbTarget, tmp_path: Path, name: str) -> DbTarget:
    if target.kind == "sqlite":
        return DbTarget("sqlite", f"sqlite+aiosqlite:///{tmp_path / (name + '.db')}", None)
    return DbTarget("postgresql", target.url, f"{target.schema}_{name}")


@pytest.fixture
async def system(db_target: DbTarget, broker: Broker, tmp_path: Path) -> AsyncIterator[System]:
    sys_ = System()
    try:
        async with AsyncExitStack() as stack:
            for spec in SERVICES:
                settings = settings_for(
                    settings_class(spec.name),
                    _target_for(db_target, tmp_path, spec.name),
                    broker.bootstrap,
                    **SHARED,
                    **OWN.get(spec.name, {}),
                )
                app = app_factory(spec.name)(settings)
                client, rt = await stack.enter_async_context(running(app))
                sys_.clients[spec.name] = client
                sys_.runtimes[spec.name] = rt
                sys_.apps[spec.name] = app
            yield sys_
    finally:
        if db_target.kind == "postgresql":
            conn = await asyncpg.connect(_pg_dsn())
            try:
                for spec in SERVICES:
                    await conn.execute(
                        f'DROP SCHEMA IF EXISTS "{db_target.schema}_{spec.name}" CASCADE'
                    )
            finally:
                await conn.close()
