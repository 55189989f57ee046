"""A complaint that becomes major later (seed 004 §3.3: the 200th same-content complaint)
has its clocks planned again under the major policy of its receipt, once, over the real
broker and both databases."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import select

from services.sla.app import create_app
from services.sla.models import platform
from services.sla.policy import DEFAULT_POLICY
from services.sla.settings import SlaSettings
from shared.broker import Broker
from shared.cloudevents import Envelope
from shared.events import TicketMarkedMajor
from shared.service import Runtime
from tests.builders import auth, classified, eventually, running, settings_for
from tests.conftest import DbTarget
from tests.integration.platform.fixtures import send

AGENT, OPS = auth("agent"), auth("ops", sub="ops-policy")
Outbox = platform.models.outbox


@pytest.fixture
async def sla(
    db_target: DbTarget, broker: Broker
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    settings = settings_for(SlaSettings, db_target, broker.bootstrap, scheduler_interval_s=0.1)
    async with running(create_app(settings)) as pair:
        yield pair


def _major_accepted_within(hours: int) -> dict[str, Any]:
    """The default policy plus a row: a major complaint is accepted within `hours`."""
    body = DEFAULT_POLICY.model_dump(mode="json")
    row = next(r for r in body["rules"] if r["clock"] == "acceptance" and r["severity"] is None)
    body["rules"].insert(
        0, {**row, "severity": "major", "limit": {"unit": "hours", "amount": hours}}
    )
    return body


async def _changes(rt: Runtime, ticket_no: str) -> list[dict[str, Any]]:
    async with rt.db.sessions() as s:
        rows = (
            await s.scalars(
                select(Outbox).where(
                    Outbox.event_type == "SlaDeadlinesChanged", Outbox.key == ticket_no
                )
            )
        ).all()
    return [json.loads(r.value) for r in rows]


async def test_the_200th_complaint_re_plans_the_clocks_under_the_major_policy_once(
    sla: Any, producer: AIOKafkaProducer
) -> None:
    client, rt = sla
    r = await client.put(
        "/v1/sla/policy",
        json=_major_accepted_within(2),
        params={"reason": "重大投诉2小时内受理"},
        headers=OPS,
    )
    assert r.status_code == 200, r.text
    received = datetime.now(UTC)  # after the policy change: its policy is the new one
    await send(producer, Envelope(event=classified("MJ-1", received_at=received)))

    async def clocks() -> dict[str, Any] | None:
        r = await client.get("/v1/sla/tickets/MJ-1", headers=AGENT)
        return {c["name"]: c for c in r.json()["clocks"]} if r.status_code == 200 else None

    before = await eventually(clocks)
    assert datetime.fromisoformat(before["acceptance"]["due_at"]) == received + timedelta(hours=24)
    marked = Envelope(
        event=TicketMarkedMajor(
            ticket_no="MJ-1",
            reason="same_content_surge",
            cluster_id="S-1",
            marked_at=received + timedelta(minutes=5),
        )
    )
    await send(producer, marked)
    await send(producer, marked)  # redelivered
    [change] = await eventually(lambda: _changes(rt, "MJ-1"))
    assert change["reason"] == "major:same_content_surge"
    after = await clocks()
    assert after is not None
    assert datetime.fromisoformat(after["acceptance"]["due_at"]) == received + timedelta(hours=2)
    assert after["resolution"]["due_at"] == before["resolution"]["due_at"]
    other = Envelope(
        event=TicketMarkedMajor(
            ticket_no="MJ-1", reason="over_level", marked_at=received + timedelta(minutes=9)
        )
    )
    await send(producer, other)  # already major: nothing to re-plan
    await eventually(lambda: _consumed(rt, other.id))
    assert len(await _changes(rt, "MJ-1")) == 1


async def _consumed(rt: Runtime, event_id: str) -> bool:
    async with rt.db.sessions() as s:
        return await s.get(rt.platform.models.inbox, event_id) is not None
