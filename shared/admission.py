"""Admission control: bounded in-flight work per process and a queue-time budget.

A request beyond the bound waits for a slot at most `queue_budget_s` (first come, first
served); if none frees up in time, or too many already wait, it is refused at once with
503 problem+json and `Retry-After`, before the application has read or written anything.
So an overloaded process answers the excess within milliseconds instead of queueing it
until clients time out, and what it accepted keeps its latency. Health and metrics
endpoints are never refused (the orchestrator must see a busy process as alive).
The gateway and every service apply the same rule (`ServiceSettings.max_in_flight`, ...).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from starlette.responses import JSONResponse

from shared.errors import PROBLEM_JSON, Problem
from shared.observability import record_refused

EXEMPT = frozenset({"/healthz", "/readyz", "/metrics"})


class Admission:
    """ASGI middleware: at most `max_in_flight` requests run; a bounded few wait briefly."""

    def __init__(
        self,
        app: Any,
        *,
        max_in_flight: int,
        max_queued: int,
        queue_budget_s: float,
        retry_after_s: int = 1,
        service: str = "",
    ) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.max_queued = max_queued
        self.queue_budget_s = queue_budget_s
        self.retry_after_s = retry_after_s
        self.service = service
        self.in_flight = 0
        self._waiters: deque[asyncio.Future[bool]] = deque()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.max_in_flight <= 0 or scope["path"] in EXEMPT:
            return await self.app(scope, receive, send)
        if not await self._enter():
            record_refused(self.service)
            return await self._refuse(scope, receive, send)
        try:
            await self.app(scope, receive, send)
        finally:
            self._leave()

    async def _enter(self) -> bool:
        """Take a slot now, or wait for one within the budget; False when refused."""
        if self.in_flight < self.max_in_flight and not self._waiters:
            self.in_flight += 1
            return True
        if len(self._waiters) >= self.max_queued or self.queue_budget_s <= 0:
            return False
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiters.append(waiter)
        timer = loop.call_later(self.queue_budget_s, _expire, waiter)
        try:
            admitted = await waiter
        except asyncio.CancelledError:
            # The client went away while waiting: give back a slot handed over meanwhile.
            if waiter.done() and not waiter.cancelled() and waiter.result():
                self._leave()
            raise
        finally:
            timer.cancel()
            if waiter in self._waiters:
                self._waiters.remove(waiter)
        return admitted

    def _leave(self) -> None:
        """Hand the slot to the oldest waiter still waiting, or free it."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(True)  # the slot passes on: in_flight is unchanged
                return
        self.in_flight -= 1

    async def _refuse(self, scope: Any, receive: Any, send: Any) -> None:
        problem = Problem(
            503,
            "Service Unavailable",
            f"overloaded: more than {self.max_in_flight} requests in progress; "
            f"retry after {self.retry_after_s} s",
        )
        response = JSONResponse(
            problem.body(scope.get("path")),
            status_code=503,
            media_type=PROBLEM_JSON,
            headers={"Retry-After": str(self.retry_after_s)},
        )
        await response(scope, receive, send)


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)
