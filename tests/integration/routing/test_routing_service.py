"""Routing over a real broker and database: dispatch by the matrix, transfers and ping-pong,
escalation and supervision, queues, directory changes, and timers that fire once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import select

from services.routing.app import create_app
from services.routing.domain import DEFAULT_MATRIX
from services.routing.models import platform
from services.routing.settings import RoutingSettings
from shared.broker import Broker
from shared.cloudevents import Envelope
from shared.events import SlaBreached, TicketClassified, TicketStatusChanged
from shared.service import Runtime
from tests.builders import auth, consumed, eventually, running, settings_for
from tests.builders import classified as build_classified
from tests.conftest import DbTarget
from tests.integration.platform.fixtures import send

Outbox = platform.models.outbox
AGENT = auth("agent", sub="agent-1", dept="billing_support")
OPS = auth("ops", sub="ops-1")


def classified(ticket_no: str, category: str = "billing", **kw: Any) -> TicketClassified:
    return build_classified(ticket_no, category, **kw)


def _settings(db_target: DbTarget, broker: Broker, **kw: Any) -> RoutingSettings:
    return settings_for(  # type: ignore[no-any-return]
        RoutingSettings, db_target, broker.bootstrap, scheduler_interval_s=0.1, **kw
    )


@pytest.fixture
async def routing(
    db_target: DbTarget, broker: Broker
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    async with running(create_app(_settings(db_target, broker))) as pair:
        yield pair


async def _assigned(client: httpx.AsyncClient, ticket_no: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        r = await client.get(
            f"/v1/assignments/{ticket_no}", headers=OPS
        )  # ops reads every assignment
        return r.json() if r.status_code == 200 else None

    return await eventually(probe)  # type: ignore[no-any-return]


async def _published(
    rt: Runtime, type_name: str, ticket_no: str | None = None
) -> list[dict[str, Any]]:
    query = select(Outbox).where(Outbox.event_type == type_name).order_by(Outbox.id)
    if ticket_no is not None:
        query = query.where(Outbox.key == ticket_no)
    async with rt.db.sessions() as s:
        return [json.loads(r.value) for r in (await s.scalars(query)).all()]


async def test_every_category_goes_to_its_matrix_department_and_the_owner_stays(
    routing: Any, producer: AIOKafkaProducer
) -> None:
    client, rt = routing
    for category in DEFAULT_MATRIX:
        await send(producer, Envelope(event=classified(f"TS-{category}", category)))
    for category, department in DEFAULT_MATRIX.items():
        a = await _assigned(client, f"TS-{category}")
        assert a["handler_department"] == department
        assert a["owner_department"] == "frontdesk_10086"
        assert a["history"][0]["action"] == "dispatch"
    assert len(await _published(rt, "TicketAssigned")) == len(DEFAULT_MATRIX)


async def test_the_third_transfer_escalates_to_the_handler_managers_supervision(
    routing: Any, producer: AIOKafkaProducer
) -> None:
    client, rt = routing
    await send(producer, Envelope(event=classified("TS-PING")))
    await _assigned(client, "TS-PING")
    hops = ["value_added", "billing_support", "value_added"]
    holder = "billing_support"
    for i, to in enumerate(hops, 1):
        r = await client.post(  # each hop by the department holding the ticket then
            "/v1/assignments/TS-PING/transfer",
            json={"to_department": to, "reason": f"不归我们管 {i}"},
            headers=auth("agent", sub="agent-1", dept=holder),
        )
        holder = to
        assert r.status_code == 200, r.text
        escalated = await _published(rt, "TicketEscalated", "TS-PING")
        assert len(escalated) == (1 if i == 3 else 0)
    a = r.json()
    assert a["transfer_count"] == 3 and a["supervisor"] == "mgr_value_added"
    assert [h["action"] for h in a["history"]] == ["dispatch", "transfer", "transfer", "transfer"]
    assert a["history"][1]["actor"] == "agent-1" and a["history"][1]["reason"] == "不归我们管 1"
    assert escalated[0]["trigger"] == "ping_pong"
    transferred = await _published(rt, "TicketTransferred", "TS-PING")
    assert [t["transfer_count"] for t in transferred] == [1, 2, 3]


async def test_transfer_input_is_checked(routing: Any, producer: AIOKafkaProducer) -> None:
    client, _ = routing
    await send(producer, Envelope(event=classified("TS-BAD")))
    await _assigned(client, "TS-BAD")
    url = "/v1/assignments/TS-BAD/transfer"
    r = await client.post(url, json={"to_department": "nowhere", "reason": "x"}, headers=AGENT)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "to_department"
    r = await client.post(
        url, json={"to_department": "billing_support", "reason": "x"}, headers=AGENT
    )
    assert r.status_code == 409
    r = await client.post(url, json={"to_department": "marketing"}, headers=AGENT)
    assert r.status_code == 422
    r = await client.post(
        url, json={"to_department": "marketing", "reason": "x"}, headers=auth("billing")
    )
    assert r.status_code == 403
    r = await client.post(
        "/v1/assignments/TS-NONE/transfer",
        json={"to_department": "marketing", "reason": "x"},
        headers=AGENT,
    )
    assert r.status_code == 404


async def test_major_urgent_breach_and_demand_escalate_with_a_ledger(
    routing: Any, producer: AIOKafkaProducer
) -> None:
    client, rt = routing
    await send(
        producer,
        Envelope(
            event=classified("TS-MAJOR", major=True, severity="major", major_reasons=["lawsuit"])
        ),
    )
    await send(producer, Envelope(event=classified("TS-URGENT", severity="urgent")))
    await send(producer, Envelope(event=classified("TS-LATE")))
    assert (await _assigned(client, "TS-MAJOR"))["supervisor"] == "leader_in_charge"
    assert (await _assigned(client, "TS-URGENT"))["supervisor"] == "leader_in_charge"
    assert (await _assigned(client, "TS-LATE"))["supervisor"] is None
    breach = SlaBreached(ticket_no="TS-LATE", clock="first_reply", due_at=datetime.now(UTC))
    await send(producer, Envelope(event=breach))

    async def escalated() -> bool:
        return bool(await _published(rt, "TicketEscalated", "TS-LATE"))

    await eventually(escalated)
    r = await client.post(
        "/v1/assignments/TS-LATE/escalate", json={"reason": "客户第三次来电"}, headers=AGENT
    )
    assert r.status_code == 200
    r = await client.post(
        "/v1/assignments/TS-LATE/supervision",
        json={"text": "已约谈计费部"},
        headers=auth("room_manager", dept="billing_support"),
    )
    assert r.status_code == 201
    ledger = r.json()["supervision"]
    assert [e["kind"] for e in ledger] == ["escalated", "escalated", "progress"]
    triggers = [e["trigger"] for e in await _published(rt, "TicketEscalated", "TS-LATE")]
    assert triggers == ["sla_breach", "on_demand"]


async def test_a_breach_read_before_the_classification_escalates_once_at_dispatch(
    routing: Any, producer: AIOKafkaProducer
) -> None:
    """The sla and ticket topics are not ordered with each other: after a rebalance routing
    can read a ticket's SlaBreached before its TicketClassified. The breach is not lost."""
    client, rt = routing
    breach = Envelope(
        event=SlaBreached(ticket_no="TS-EARLY", clock="acceptance", due_at=datetime.now(UTC))
    )
    await send(producer, breach)
    await eventually(lambda: consumed(rt, breach.id))
    await send(producer, breach)  # redelivered
    await send(producer, Envelope(event=classified("TS-EARLY")))
    assert (await _assigned(client, "TS-EARLY"))["supervisor"] == "mgr_billing"
    escalations = await _published(rt, "TicketEscalated", "TS-EARLY")
    assert [(e["trigger"], e["reason"]) for e in escalations] == [
        ("sla_breach", "acceptance deadline passed")
    ]
    await send(producer, Envelope(event=classified("TS-EARLY", category="network")))
    await eventually(lambda: _handler_is(client, "TS-EARLY", "network_maintenance"))
    assert len(await _published(rt, "TicketEscalated", "TS-EARLY")) == 1


async def _handler_is(client: httpx.AsyncClient, ticket_no: str, department: str) -> bool:
    return (await _assigned(client, ticket_no))["handler_department"] == department


async def test_queue_is_most_urgent_then_oldest_and_claims_are_exclusive(
    routing: Any, producer: AIOKafkaProducer
) -> None:
    client, _ = routing
    old = datetime.now(UTC) - timedelta(hours=5)
    await send(producer, Envelope(event=classified("TS-Q-OLD", received_at=old)))
    await send(producer, Envelope(event=classified("TS-Q-NEW")))
    await send(producer, Envelope(event=classified("TS-Q-OVER", over_level=True)))
    await send(producer, Envelope(event=classified("TS-Q-URGENT", severity="urgent")))
    for t in ("TS-Q-OLD", "TS-Q-NEW", "TS-Q-OVER", "TS-Q-URGENT"):
        await _assigned(client, t)
    r = await client.get("/v1/queues/billing_support", headers=AGENT)
    assert [q["ticket_no"] for q in r.json()] == [
        "TS-Q-URGENT",
        "TS-Q-OVER",
        "TS-Q-OLD",
        "TS-Q-NEW",
    ]
    first = await client.post("/v1/assignments/TS-Q-OLD/claim", headers=AGENT)
    again = await client.post(
        "/v1/assignments/TS-Q-OLD/claim",
        headers=auth("agent", sub="agent-2", dept="billing_support"),
    )
    assert first.status_code == 200 and first.json()["assignee"] == "agent-1"
    assert again.status_code == 409
    other = await client.post(
        "/v1/assignments/TS-Q-NEW/claim", headers=auth("agent", dept="marketing")
    )
    assert other.status_code == 404  # another department's ticket is not confirmed to exist
    r = await client.get("/v1/queues/billing_support", params={"unclaimed": True}, headers=AGENT)
    assert "TS-Q-OLD" not in [q["ticket_no"] for q in r.json()]


async def test_ops_edit_the_directory_and_matrix_and_every_change_is_audited(
    routing: Any, producer: AIOKafkaProducer
) -> None:
    client, _ = routing
    r = await client.put(
        "/v1/departments/complaints_desk",
        json={"name": "投诉专席", "kind": "back_office", "manager": "mgr_cd"},
        headers=OPS,
    )
    assert r.status_code == 200
    r = await client.put(
        "/v1/responsibility/matrix/billing",
        json={"department_code": "complaints_desk"},
        headers=OPS,
    )
    assert r.status_code == 200
    r = await client.put(
        "/v1/responsibility/matrix/billing", json={"department_code": "ghost"}, headers=OPS
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "department_code"
    r = await client.put(
        "/v1/responsibility/matrix/billing", json={"department_code": "marketing"}, headers=AGENT
    )
    assert r.status_code == 403
    await send(producer, Envelope(event=classified("TS-NEWMATRIX")))
    assert (await _assigned(client, "TS-NEWMATRIX"))["handler_department"] == "complaints_desk"
    audit = (await client.get("/v1/responsibility/audit", headers=auth("centre_manager"))).json()
    assert [(a["entity"], a["key"], a["actor"]) for a in audit] == [
        ("department", "complaints_desk", "ops-1"),
        ("matrix", "billing", "ops-1"),
    ]
    assert audit[1]["before"] == {"department_code": "billing_support"}


async def test_progress_notices_and_the_plan_clock_fire_once_across_two_replicas(
    db_target: DbTarget, broker: Broker, producer: AIOKafkaProducer
) -> None:
    five_days_ago = datetime.now(UTC) - timedelta(days=5)
    async with (
        running(create_app(_settings(db_target, broker, temporary_plan_within_minutes=0))) as (
            client,
            rt,
        ),
        running(
            create_app(
                _settings(
                    db_target, broker, consumers_enabled=False, temporary_plan_within_minutes=0
                )
            )
        ),
    ):
        await send(producer, Envelope(event=classified("TS-SLOW", received_at=five_days_ago)))
        await send(
            producer,
            Envelope(
                event=classified("TS-DEFECT", category="network", major=True, severity="major")
            ),
        )

        async def fired() -> bool:
            return bool(await _published(rt, "ProgressNoticeDue", "TS-SLOW")) and bool(
                [
                    e
                    for e in await _published(rt, "TicketEscalated", "TS-DEFECT")
                    if e["trigger"] == "temporary_plan_missed"
                ]
            )

        await eventually(fired)
        # a few more ticks on both replicas change nothing
        await asyncio.sleep(0.6)
        assert len(await _published(rt, "ProgressNoticeDue", "TS-SLOW")) == 1
        missed = [
            e
            for e in await _published(rt, "TicketEscalated", "TS-DEFECT")
            if e["trigger"] == "temporary_plan_missed"
        ]
        assert len(missed) == 1
        a = (await client.get("/v1/assignments/TS-SLOW", headers=AGENT)).json()
        assert datetime.fromisoformat(a["next_progress_notice_at"]) > datetime.now(UTC)
        await send(
            producer,
            Envelope(
                event=TicketStatusChanged(
                    ticket_no="TS-SLOW",
                    from_status="replied",
                    to_status="closed",
                    actor="a",
                    changed_at=datetime.now(UTC),
                )
            ),
        )

        async def closed() -> bool:
            r = await client.get("/v1/assignments/TS-SLOW", headers=AGENT)
            return r.json()["next_progress_notice_at"] is None

        await eventually(closed)
