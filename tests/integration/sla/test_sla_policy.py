"""The SLA policy at run time and extensions, over a real broker and database: a PUT changes
the deadlines of complaints received afterwards only, and is audited; an extension moves a
major complaint's resolution deadline within the maximum, once, and is audited."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

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
from shared.service import Runtime
from tests.builders import auth, classified, eventually, running, settings_for
from tests.conftest import DbTarget
from tests.integration.platform.fixtures import send

SH = ZoneInfo("Asia/Shanghai")
AGENT = auth("agent")
OPS = auth("ops", sub="ops-policy")
ROOM = auth("room_manager", sub="mgr-wang")
Outbox = platform.models.outbox


@pytest.fixture
async def sla(
    db_target: DbTarget, broker: Broker
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    settings = settings_for(SlaSettings, db_target, broker.bootstrap, scheduler_interval_s=0.1)
    async with running(create_app(settings)) as pair:
        yield pair


async def _clocks(client: httpx.AsyncClient, ticket_no: str) -> dict[str, dict[str, Any]]:
    async def probe() -> dict[str, dict[str, Any]] | None:
        r = await client.get(f"/v1/sla/tickets/{ticket_no}", headers=AGENT)
        return {c["name"]: c for c in r.json()["clocks"]} if r.status_code == 200 else None

    return await eventually(probe)  # type: ignore[no-any-return]


async def _published(rt: Runtime, type_name: str, ticket_no: str) -> list[dict[str, Any]]:
    async with rt.db.sessions() as s:
        rows = (
            await s.scalars(
                select(Outbox).where(Outbox.event_type == type_name, Outbox.key == ticket_no)
            )
        ).all()
    return [json.loads(r.value) for r in rows]


def _with_acceptance_hours(hours: int) -> dict[str, Any]:
    body = DEFAULT_POLICY.model_dump(mode="json")
    for row in body["rules"]:
        if row["clock"] == "acceptance" and row["severity"] is None:
            row["limit"]["amount"] = hours
    return body


async def test_a_policy_put_changes_new_complaints_only_and_is_audited(
    sla: Any, producer: AIOKafkaProducer
) -> None:
    client, _ = sla
    before_change = datetime.now(UTC) - timedelta(minutes=5)
    r = await client.put("/v1/sla/policy", json=_with_acceptance_hours(12), headers=AGENT)
    assert r.status_code == 403
    r = await client.put(
        "/v1/sla/policy",
        json=_with_acceptance_hours(12),
        params={"reason": "省公司要求12小时受理"},
        headers=OPS,
    )
    assert r.status_code == 200, r.text
    # Received before the change (classified after it): the old 24 hours.
    await send(producer, Envelope(event=classified("TP-OLD", received_at=before_change)))
    # Received after the change: 12 hours.
    await send(producer, Envelope(event=classified("TP-NEW", received_at=datetime.now(UTC))))
    old = await _clocks(client, "TP-OLD")
    new = await _clocks(client, "TP-NEW")
    assert old["acceptance"]["limit"] == {"unit": "hours", "amount": 24}
    assert new["acceptance"]["limit"] == {"unit": "hours", "amount": 12}
    assert new["resolution"]["limit"] == {"unit": "working_days", "amount": 20}
    changes = (await client.get("/v1/sla/policy/changes", headers=AGENT)).json()
    assert len(changes) == 1
    change = changes[0]
    assert (change["changed_by"], change["reason"]) == ("ops-policy", "省公司要求12小时受理")
    acceptance = [r for r in change["previous"]["rules"] if r["clock"] == "acceptance"]
    assert acceptance[-1]["limit"]["amount"] == 24
    now_in_force = (await client.get("/v1/sla/policy", headers=AGENT)).json()
    assert now_in_force == change["body"] == _with_acceptance_hours(12)


async def test_an_invalid_policy_is_refused_naming_the_field_and_changes_nothing(sla: Any) -> None:
    client, _ = sla
    body = DEFAULT_POLICY.model_dump(mode="json")
    body["rules"][1]["limit"]["amount"] = 0
    r = await client.put("/v1/sla/policy", json=body, headers=OPS)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "rules.1.limit.amount"
    assert (await client.get("/v1/sla/policy/changes", headers=OPS)).json() == []


async def test_an_extension_moves_a_major_complaints_resolution_deadline_once_within_the_max(
    sla: Any, producer: AIOKafkaProducer
) -> None:
    client, rt = sla
    # Tue 1 Dec 2026 10:00: the 20th working day after is Tue 29 Dec; due 30 Dec 00:00.
    received = datetime(2026, 12, 1, 10, tzinfo=SH)
    await send(
        producer,
        Envelope(event=classified("TX-MAJ", severity="major", major=True, received_at=received)),
    )
    await send(producer, Envelope(event=classified("TX-NOR", received_at=received)))
    clocks = await _clocks(client, "TX-MAJ")
    await _clocks(client, "TX-NOR")
    assert datetime.fromisoformat(clocks["resolution"]["due_at"]) == datetime(
        2026, 12, 30, tzinfo=SH
    )
    body = {"working_days": 3, "reason": "需协调基站选址，处理时间延长"}
    headers = {**ROOM, "Idempotency-Key": "ext-1"}
    r = await client.post("/v1/sla/tickets/TX-MAJ/extensions", json=body, headers=headers)
    assert r.status_code == 201, r.text
    again = await client.post("/v1/sla/tickets/TX-MAJ/extensions", json=body, headers=headers)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    resolution = {c["name"]: c for c in r.json()["clocks"]}["resolution"]
    # 30, 31 Dec, (1 Jan off), 4 Jan → due 5 Jan 2027 00:00, on the provisional 2027.
    assert datetime.fromisoformat(resolution["due_at"]) == datetime(2027, 1, 5, tzinfo=SH)
    assert resolution["provisional"]
    assert resolution["limit"] == {"unit": "working_days", "amount": 23}
    extended = await _published(rt, "SlaDeadlineExtended", "TX-MAJ")
    assert len(extended) == 1
    assert extended[0]["reason"] == body["reason"] and extended[0]["extended_by"] == "mgr-wang"
    audit = (await client.get("/v1/sla/tickets/TX-MAJ/extensions", headers=AGENT)).json()
    assert [(a["working_days"], a["extended_by"]) for a in audit] == [(3, "mgr-wang")]

    too_far = {"working_days": 8, "reason": "继续延长"}
    r = await client.post("/v1/sla/tickets/TX-MAJ/extensions", json=too_far, headers=ROOM)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "working_days"
    r = await client.post("/v1/sla/tickets/TX-NOR/extensions", json=body, headers=ROOM)
    assert r.status_code == 422 and "major" in r.json()["errors"][0]["message"]
    r = await client.post("/v1/sla/tickets/TX-MAJ/extensions", json=body, headers=AGENT)
    assert r.status_code == 403
    assert len(await _published(rt, "SlaDeadlineExtended", "TX-MAJ")) == 1
    assert await _published(rt, "SlaDeadlineExtended", "TX-NOR") == []
    clocks = await _clocks(client, "TX-MAJ")
    assert datetime.fromisoformat(clocks["resolution"]["due_at"]) == datetime(2027, 1, 5, tzinfo=SH)
