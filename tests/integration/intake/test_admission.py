"""Admission control on intake: over the in-flight bound a POST is refused with 503
problem+json and Retry-After, before anything is written; what was accepted completes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from services.intake.app import create_app
from services.intake.models import Complaint, platform
from services.intake.settings import IntakeSettings
from shared.broker import Broker
from shared.service import Runtime
from tests.builders import auth, complaint, running, settings_for
from tests.conftest import DbTarget


@pytest.fixture
async def one_slot(
    db_target: DbTarget, broker: Broker
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    settings = settings_for(
        IntakeSettings,
        db_target,
        broker.bootstrap,
        relay_enabled=False,
        consumers_enabled=False,
        max_in_flight=1,
        max_queued=0,
    )
    async with running(create_app(settings)) as pair:
        yield pair


async def _stored(rt: Runtime) -> tuple[int, int, int]:
    """Complaints, outbox rows and idempotency keys in intake's database."""
    models = platform.models
    async with rt.db.sessions() as s:
        return (
            await s.scalar(select(func.count()).select_from(Complaint)) or 0,
            await s.scalar(select(func.count()).select_from(models.outbox)) or 0,
            await s.scalar(select(func.count()).select_from(models.idempotency)) or 0,
        )


async def test_a_complaint_over_the_in_flight_bound_gets_503_with_retry_after_and_writes_nothing(
    one_slot: Any,
) -> None:
    client, rt = one_slot
    body_sent, reading = asyncio.Event(), asyncio.Event()
    first_body = json.dumps(complaint(msisdn="13800138001")).encode()

    async def slow_body() -> AsyncIterator[bytes]:
        reading.set()  # the app reads the body: the request was admitted
        await body_sent.wait()  # the first request holds the only slot until its body arrives
        yield first_body

    headers = {**auth("agent"), "Content-Type": "application/json"}
    first = asyncio.create_task(client.post("/v1/complaints", content=slow_body(), headers=headers))
    await reading.wait()

    second = complaint(msisdn="13800138002")
    key = {"Idempotency-Key": "over-the-bound-1", **auth("agent")}
    refused = await client.post("/v1/complaints", json=second, headers=key)
    assert refused.status_code == 503
    assert refused.headers["content-type"] == "application/problem+json"
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["status"] == 503
    assert await _stored(rt) == (0, 0, 0)  # nothing half-written
    # health stays answerable while the process is full
    assert (await client.get("/healthz")).status_code == 200

    body_sent.set()
    accepted = await first
    assert accepted.status_code == 201, accepted.text
    # the client retries after Retry-After with the same key: one complaint, created now
    retried = await client.post("/v1/complaints", json=second, headers=key)
    assert retried.status_code == 201, retried.text
    again = await client.post("/v1/complaints", json=second, headers=key)
    assert again.json()["ticket_no"] == retried.json()["ticket_no"]
    complaints, _, keys = await _stored(rt)
    assert (complaints, keys) == (2, 1)
