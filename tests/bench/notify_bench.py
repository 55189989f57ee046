"""Notify: SMS submitted per second to a local SMPP peer with windowing versus one at a time,
and signed webhook deliveries per second to a local receiver versus bare POSTs.

SMS: the same SmppTransport against the same in-process SMSC (smpp34's server over loopback
TCP), once with a window of 32 outstanding submit_sm and many messages in flight, once with
a window of 1 sending each message after the previous one was answered; first with the peer
answering at once (both sides share this process's CPU, so windowing buys little), then
answering after 5 ms, as a gateway across a network does (where windowing is the point).
Webhooks: the real WebhookSender (claim, sign, POST, record the attempt) on SQLite against a
uvicorn receiver, next to plain httpx POSTs of the same bodies at the same concurrency.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import uvicorn
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.notify.clock import SystemClock
from services.notify.models import WebhookDelivery, WebhookSubscription
from services.notify.settings import NotifySettings
from services.notify.sms.sink import SmppSink
from services.notify.sms.smpp import SmppConfig, SmppTransport
from services.notify.sms.transport import DeliveryReceipt, InboundSms
from services.notify.webhooks.fanout import new_webhook_id
from services.notify.webhooks.sender import WebhookSender
from services.notify.webhooks.subscriptions import new_secret
from shared.broker import free_port
from shared.db import Database, utcnow
from shared.migrations import upgrade_async
from tests.bench.report import Report

TEXT = "【中国移动】您的投诉（投诉编码：GD20261122000123）已受理，我们正在处理。"
WINDOW = 32
CONCURRENCY = 32


async def _ignore_receipt(_: DeliveryReceipt) -> None:
    return None


async def _ignore_inbound(_: InboundSms) -> None:
    return None


async def _sms_rate(port: int, n: int, window: int) -> float:
    config = SmppConfig("127.0.0.1", port, "bench", "bench", window=window)
    transport = SmppTransport(config, _ignore_receipt, _ignore_inbound)
    await transport.start()
    try:
        await transport.wait_bound(10)
        await transport.send("+8613800138000", TEXT)  # warm-up
        t0 = time.perf_counter()
        if window == 1:
            for i in range(n):
                await transport.send(f"+86138{i % 100_000_000:08d}", TEXT)
        else:
            await asyncio.gather(
                *(transport.send(f"+86138{i % 100_000_000:08d}", TEXT) for i in range(n))
            )
        return n / (time.perf_counter() - t0)
    finally:
        await transport.stop()


async def _serve_receiver() -> tuple[uvicorn.Server, asyncio.Task[None], str]:
    async def hook(request: Request) -> Response:
        await request.body()
        return Response(status_code=204)

    port = free_port()
    app = Starlette(routes=[Route("/hooks", hook, methods=["POST"])])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    task = asyncio.create_task(server.serve())
    for _ in range(1000):  # uvicorn sets `started` once it listens
        if server.started:
            break
        await asyncio.sleep(0.01)
    return server, task, f"http://127.0.0.1:{port}/hooks"


async def _seed(db: Database, url: str, n: int) -> None:
    async with db.uow() as uow:
        uow.session.add(
            WebhookSubscription(
                id="ep_bench",
                kind="standard",
                url=url,
                events=["*"],
                owner="bench",
                secret=new_secret(),
                status="active",
            )
        )
        await uow.session.flush()
        for i in range(n):
            body = {"type": "ticket.status_changed", "data": {"ticket_no": f"GD{i:08d}"}}
            uow.session.add(
                WebhookDelivery(
                    webhook_id=new_webhook_id(),
                    subscription_id="ep_bench",
                    event_id=f"bench-{i}",
                    event_type="ticket.status_changed",
                    payload=json.dumps(body),
                    status="pending",
                    attempts=0,
                    round_attempts=0,
                    next_attempt_at=utcnow(),
                )
            )
        await uow.commit()


async def _webhook_rates(workdir: Path, n: int) -> tuple[float, float]:
    server, task, url = await _serve_receiver()
    try:
        db_url = f"sqlite+aiosqlite:///{workdir / 'notify.db'}"
        await upgrade_async("notify", db_url, None)
        db = Database(db_url)
        await _seed(db, url, n)
        settings = NotifySettings(
            database_url=db_url, webhook_concurrency=CONCURRENCY, webhook_batch=200
        )
        async with httpx.AsyncClient(timeout=10) as http:
            sender = WebhookSender(db, settings, http, SystemClock())
            t0 = time.perf_counter()
            while await sender.tick():
                pass
            ours = n / (time.perf_counter() - t0)
            async with db.sessions() as s:
                delivered = await s.scalar(
                    select(func.count()).where(WebhookDelivery.status == "delivered")
                )
            if delivered != n:
                raise RuntimeError(f"only {delivered} of {n} webhooks delivered")
            gate = asyncio.Semaphore(CONCURRENCY)
            body = json.dumps({"type": "ticket.status_changed", "data": {"ticket_no": "GD1"}})

            async def post() -> None:
                async with gate:
                    r = await http.post(url, content=body)
                    r.raise_for_status()

            t0 = time.perf_counter()
            await asyncio.gather(*(post() for _ in range(n)))
            bare = n / (time.perf_counter() - t0)
        await db.dispose()
        return ours, bare
    finally:
        server.should_exit = True
        await task


async def run(workdir: Path, *, quick: bool = False) -> Report:
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    n_sms = 300 if quick else 3000
    n_hooks = 200 if quick else 1000
    report = Report(
        f"notify: SMS over SMPP x{n_sms} (window {WINDOW} vs 1); webhooks x{n_hooks}, "
        f"{CONCURRENCY} in flight, SQLite"
    )
    for latency_ms in (0, 5):
        peer = SmppSink(port=free_port(), receipt_delay_s=None, response_delay_s=latency_ms / 1000)
        await peer.start()
        try:
            serial = await _sms_rate(peer.port, n_sms // (3 if latency_ms == 0 else 30), window=1)
            windowed = await _sms_rate(peer.port, n_sms, window=WINDOW)
        finally:
            await peer.stop()
        name = f"SMS submitted, SMSC +{latency_ms} ms, window {WINDOW} vs 1"
        report.add(name, windowed, "msg/s", baseline=serial)
    ours, bare = await _webhook_rates(workdir, n_hooks)
    report.add("webhooks delivered, signed+logged vs bare", ours, "req/s", baseline=bare)
    return report
