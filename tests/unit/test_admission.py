"""Admission control rules on a stand-in ASGI app: the bound, the waiting line, the budget."""

from __future__ import annotations

import asyncio
from typing import Any

from shared.admission import Admission


class Held:
    """An ASGI app whose requests finish only when released."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started = 0
        self.arrivals: asyncio.Queue[str] = asyncio.Queue()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.started += 1
        self.arrivals.put_nowait(scope["path"])
        await self.release.wait()
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


async def _call(app: Any, path: str = "/v1/complaints") -> tuple[int, dict[bytes, bytes]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "http", "path": path, "method": "POST", "headers": []}, receive, send)
    start = sent[0]
    return start["status"], dict(start["headers"])


async def test_a_request_waiting_in_line_takes_the_slot_a_finished_one_frees() -> None:
    inner = Held()
    app = Admission(inner, max_in_flight=1, max_queued=4, queue_budget_s=3600)
    first = asyncio.create_task(_call(app))
    second = asyncio.create_task(_call(app))
    await inner.arrivals.get()
    for _ in range(10):  # let the second request reach the waiting line
        await asyncio.sleep(0)
    assert len(app._waiters) == 1
    assert inner.started == 1  # the second waits, it does not run beside the first
    inner.release.set()
    assert (await first)[0] == 201
    assert (await second)[0] == 201
    assert app.in_flight == 0


async def test_past_the_queue_budget_the_waiting_request_is_refused_with_retry_after() -> None:
    inner = Held()
    app = Admission(inner, max_in_flight=1, max_queued=4, queue_budget_s=0.01, retry_after_s=2)
    first = asyncio.create_task(_call(app))
    await inner.arrivals.get()
    status, headers = await _call(app)
    assert status == 503
    assert headers[b"content-type"] == b"application/problem+json"
    assert headers[b"retry-after"] == b"2"
    assert inner.started == 1
    inner.release.set()
    assert (await first)[0] == 201
    assert app.in_flight == 0 and not app._waiters


async def test_a_full_waiting_line_refuses_at_once_and_health_is_never_refused() -> None:
    inner = Held()
    app = Admission(inner, max_in_flight=1, max_queued=0, queue_budget_s=3600)
    first = asyncio.create_task(_call(app))
    await inner.arrivals.get()
    assert (await _call(app))[0] == 503
    health = asyncio.create_task(_call(app, "/healthz"))
    assert await inner.arrivals.get() == "/healthz"
    inner.release.set()
    assert (await health)[0] == 201  # passed through to the app although the bound was full
    assert (await first)[0] == 201
