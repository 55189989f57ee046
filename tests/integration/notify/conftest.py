"""Notify over real parts: a Tansu broker, SQLite/PostgreSQL, an SMPP peer over TCP (smpp34's
server), a real aiosmtpd SMTP server, and (for webhooks) a uvicorn-served receiver."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope as SmtpEnvelope
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.notify.app import create_app
from services.notify.components import Components
from services.notify.consumer import make_handlers
from services.notify.models import platform
from services.notify.settings import NotifySettings
from services.notify.sms.sink import SmppSink
from shared.broker import Broker, free_port
from shared.cloudevents import Envelope
from shared.consumer import ConsumerRunner
from shared.service import Runtime
from tests.builders import auth, running, settings_for
from tests.conftest import DbTarget

STAFF = auth("agent")
OPS = auth("ops", sub="ops-1")
Outbox = platform.models.outbox


@pytest.fixture
async def smsc() -> AsyncIterator[SmppSink]:
    """An SMSC peer over TCP: smpp34's server, with receipts after 50 ms."""
    sink = SmppSink(port=free_port(), receipt_delay_s=0.05)
    await sink.start()
    yield sink
    await sink.stop()


class Mailbox:
    """A real aiosmtpd server (its own thread and loop) collecting what it receives."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.controller = Controller(self, hostname="127.0.0.1", port=free_port())
        self.slow_answers = 0
        """This many messages are taken, but their "250" comes only after `slow_s`."""
        self.slow_s = 2.0

    async def handle_DATA(self, server: Any, session: Any, envelope: SmtpEnvelope) -> str:
        raw = envelope.original_content or b""
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        if self.slow_answers > 0:
            self.slow_answers -= 1
            await asyncio.sleep(self.slow_s)
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


@pytest.fixture
def mailbox() -> AsyncIterator[Mailbox] | Any:
    box = Mailbox()
    box.controller.start()
    yield box
    box.controller.stop()


@dataclass
class NotifyUnderTest:
    client: httpx.AsyncClient
    rt: Runtime
    parts: Components
    runner: ConsumerRunner

    async def apply(self, *envelopes: Envelope) -> None:
        """Consume events as the Kafka consumer would (inbox included), without the broker."""
        for envelope in envelopes:
            await self.runner.apply(envelope, topic=envelope.event.topic)

    async def tick(self, **kw: Any) -> int:
        return await self.parts.dispatcher.tick(**kw)

    async def notifications(self, ticket_no: str | None = None, **params: Any) -> list[Any]:
        if ticket_no is not None:
            params["ticket_no"] = ticket_no
        r = await self.client.get("/v1/notifications", params=params, headers=STAFF)
        assert r.status_code == 200, r.text
        return list(r.json()["items"])

    async def outbox(self, event_type: str) -> list[Any]:
        import json

        async with self.rt.db.sessions() as s:
            rows = (
                await s.scalars(
                    select(Outbox).where(Outbox.event_type == event_type).order_by(Outbox.id)
                )
            ).all()
        return [json.loads(r.value) for r in rows]


NotifyFactory = Callable[..., AbstractAsyncContextManager[NotifyUnderTest]]


def under_test(app: Any, client: httpx.AsyncClient, rt: Runtime) -> NotifyUnderTest:
    """A running notify app with an inbox-backed consumer to feed events to directly."""
    settings: NotifySettings = rt.settings  # type: ignore[assignment]
    runner = ConsumerRunner(
        db=rt.db,
        inbox_model=platform.models.inbox,
        group="notify",
        bootstrap=settings.kafka_bootstrap_servers,
        handlers=make_handlers(settings),
        dlq_producer=rt.producer,
        parked_model=platform.models.parked,
    )
    return NotifyUnderTest(client, rt, app.state.notify, runner)


@pytest.fixture
def notify_app(
    db_target: DbTarget, broker: Broker, smsc: SmppSink, mailbox: Mailbox
) -> NotifyFactory:
    """Start notify against the peer and the mailbox; consumers off unless asked."""

    @asynccontextmanager
    async def start(
        *, app_kw: dict[str, Any] | None = None, **kw: Any
    ) -> AsyncIterator[NotifyUnderTest]:
        kw.setdefault("consumers_enabled", False)
        kw.setdefault("sinks_enabled", False)
        kw.setdefault("dispatch_interval_s", 0.05)
        # No quiet hours unless a test sets them (it may be night in Shanghai while we test).
        kw.setdefault("quiet_hours_start", time(0, 0))
        kw.setdefault("quiet_hours_end", time(0, 0))
        settings: NotifySettings = settings_for(
            NotifySettings,
            db_target,
            broker.bootstrap,
            smpp_port=smsc.port,
            smtp_port=mailbox.controller.port,
            **kw,
        )
        app = create_app(settings, **(app_kw or {}))
        async with running(app) as (client, rt):
            yield under_test(app, client, rt)

    return start


# --- a webhook receiver -----------------------------------------------------------------------
@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A partner endpoint over real HTTP; answers from `script` (status, headers), then 200."""

    port: int = field(default_factory=free_port)
    requests: list[Received] = field(default_factory=list)
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    always: int | None = None
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: Request) -> Response:
        self.requests.append(
            Received(request.url.path, dict(request.headers), await request.body())
        )
        if self.script:
            code, headers = self.script.pop(0)
            return Response(status_code=code, headers=headers)
        return Response(status_code=self.always or 200)

    async def start(self) -> None:
        app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        for _ in range(1000):  # uvicorn sets `started` once it listens
            if self._server.started:
                break
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        assert self._server is not None and self._task is not None
        self._server.should_exit = True
        await self._task


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    await r.stop()
