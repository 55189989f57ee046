"""Small builders shared by the tests: tokens, complaint bodies, running services."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI

from shared.auth import mint_token
from shared.events import TicketClassified
from shared.service import Runtime
from shared.settings import DEV_JWT_SECRET, ServiceSettings

DEFAULT_DEPT = {"agent": "frontdesk_10086", "frontline": "frontdesk_10086"}
"""A filer's department when a test names none: where intake's default accepts complaints."""


def token(role: str = "agent", *, sub: str | None = None, dept: str | None = None) -> str:
    dept = DEFAULT_DEPT.get(role) if dept is None else (dept or None)
    return mint_token(secret=DEV_JWT_SECRET, sub=sub or f"t-{role}", roles=[role], dept=dept)


def auth(role: str = "agent", **kw: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(role, **kw)}"}


def complaint(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "channel": "hotline",
        "msisdn": "13800138000",
        "description": "家里信号很差，经常掉线",
    }
    body.update(overrides)
    return body


def classified(ticket_no: str, category: str = "network", **kw: Any) -> TicketClassified:
    """A TicketClassified as intake publishes it (a normal hotline complaint, received now)."""
    values: dict[str, Any] = {
        "ticket_no": ticket_no,
        "category": category,
        "confidence": 0.9,
        "rule": "test",
        "severity": "normal",
        "major": False,
        "channel": "hotline",
        "accepting_department": "frontdesk_10086",
        "received_at": datetime.now(UTC),
        **kw,
    }
    return TicketClassified(**values)


def settings_for(cls: type[ServiceSettings], target: Any, bootstrap: str, **kw: Any) -> Any:
    """Service settings pointing at a test database and broker."""
    kw.setdefault("consumer_session_timeout_ms", 2000)
    kw.setdefault("consumer_heartbeat_interval_ms", 300)
    return cls(
        database_url=target.url,
        db_schema=target.schema,
        kafka_bootstrap_servers=bootstrap,
        relay_idle_interval_s=0.05,
        **kw,
    )


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    """Run an app's lifespan (migrations, relay, consumers) and give an in-process client."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client, app.state.runtime


async def consumed(rt: Runtime, event_id: str) -> bool:
    """Whether the service's consumer has applied this event (its inbox holds the id)."""
    async with rt.db.sessions() as s:
        return await s.get(rt.platform.models.inbox, event_id) is not None


async def eventually(
    probe: Callable[[], Coroutine[Any, Any, Any]], *, within: float = 15.0, interval: float = 0.1
) -> Any:
    """Poll `probe` until it returns a truthy value; fail with the last value on timeout."""
    deadline = asyncio.get_running_loop().time() + within
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {within}s (last: {last!r})")
