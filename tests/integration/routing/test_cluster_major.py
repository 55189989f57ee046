"""The 201st same-content complaint makes its cluster major (seed 004 §3.3 (2), §3.5): every
member is marked and supervised, the leader in charge hears once for the cluster (not once
per ticket), and the department owes one temporary plan within the hour for the cluster."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import select

from services.routing.models import Assignment
from shared.service import Runtime
from tests.builders import auth, eventually
from tests.integration.routing.conftest import RoutingFactory
from tests.integration.routing.staff import (
    AGENT,
    OPS,
    OUTAGE,
    Outbox,
    cluster_of,
    complain,
    in_one_shift,
    staff_alerts,
)

LEADER = {"name": "赵敏", "email": "zhaomin@10086.example", "mobile": "13900139009"}
DUTY = {"name": "网络维护部值班台", "email": "noc-duty@10086.example"}
MANAGER = {"name": "陈刚", "email": "chengang@10086.example", "mobile": "13900139003"}


async def _people(client: Any) -> None:
    for path, holder in (
        ("leader_in_charge/*", LEADER),
        ("department_contact/network_maintenance", DUTY),
        ("department_manager/network_maintenance", MANAGER),
    ):
        r = await client.put(f"/v1/staff-directory/{path}", json={"holders": [holder]}, headers=OPS)
        assert r.status_code == 200, r.text


async def _events(rt: Runtime, event_type: str) -> list[dict[str, Any]]:
    async with rt.db.sessions() as s:
        rows = (await s.scalars(select(Outbox).where(Outbox.event_type == event_type))).all()
    return [json.loads(r.value) for r in rows]


async def test_the_201st_complaint_makes_the_cluster_major_with_one_notice_and_one_plan_clock(
    routing: Any, producer: AIOKafkaProducer
) -> None:
    client, rt = routing
    await _people(client)
    base = in_one_shift(timedelta(minutes=8))
    tickets = [f"SM-{i:03d}" for i in range(201)]
    for i, ticket in enumerate(tickets[:200]):
        at = base + timedelta(seconds=i)
        await complain(producer, ticket, f"{OUTAGE[i % len(OUTAGE)]}，第{i}位用户反映", at)
    await cluster_of(client, tickets[0], 200)
    assert await staff_alerts(rt, "company_leader") == []  # 200 is not "more than 200"
    await complain(producer, tickets[200], OUTAGE[0], base + timedelta(seconds=201))
    cluster = await cluster_of(client, tickets[0], 201)

    async def marked() -> set[str]:
        return {e["ticket_no"] for e in await _events(rt, "TicketMarkedMajor")}

    assert await eventually(marked, within=30) == set(tickets)

    async def escalated() -> list[dict[str, Any]]:
        found = [e for e in await _events(rt, "TicketEscalated") if e["trigger"] == "major"]
        return found if len(found) == 201 else []

    assert {e["cluster_id"] for e in await eventually(escalated, within=30)} == {cluster["id"]}
    [leader] = await eventually(lambda: staff_alerts(rt, "company_leader"))
    assert [p["name"] for p in leader["recipients"]] == [LEADER["name"]]
    assert leader["count"] == 201
    [plan] = await eventually(lambda: staff_alerts(rt, "temporary_plan"))
    assert [p["name"] for p in plan["recipients"]] == [DUTY["name"]] and plan["due_at"]
    detail = (await client.get(f"/v1/surges/{cluster['id']}", headers=AGENT)).json()
    assert detail["major"] and detail["temporary_plan_due_at"] is not None
    async with rt.db.sessions() as s:
        per_ticket = (
            await s.scalars(
                select(Assignment.ticket_no).where(Assignment.temporary_plan_due_at.is_not(None))
            )
        ).all()
    assert per_ticket == []  # one clock for the cluster, none per ticket
    url = f"/v1/surges/{cluster['id']}/temporary-plan"
    text = {"text": "已调度应急通信车进驻华景新城，今晚22时前恢复覆盖"}
    noc = auth("agent", sub="noc-1", dept="network_maintenance")
    r = await client.post(url, json=text, headers=noc)
    assert r.status_code == 200, r.text
    assert r.json()["temporary_plan_due_at"] is None and r.json()["temporary_plan_by"] == "noc-1"
    assert (await client.post(url, json=text, headers=noc)).status_code == 409
    assert len(await staff_alerts(rt, "temporary_plan")) == 1
    assert len(await staff_alerts(rt, "company_leader")) == 1


async def test_a_plan_not_given_within_the_hour_alerts_the_department_manager_once(
    routing_app: RoutingFactory, producer: AIOKafkaProducer
) -> None:
    small = {"surge_company_leader_over": 3, "surge_department_manager_over": 2}
    async with routing_app(**small, temporary_plan_within_minutes=0) as (client, rt):
        await _people(client)
        base = in_one_shift(timedelta(minutes=8))
        for i in range(4):
            await complain(producer, f"SP-{i}", OUTAGE[i], base + timedelta(minutes=i))
        await cluster_of(client, "SP-0", 4)
        [late] = await eventually(lambda: staff_alerts(rt, "temporary_plan_overdue"))
        assert [p["name"] for p in late["recipients"]] == [MANAGER["name"]] and late["urgent"]
        await complain(producer, "SP-4", OUTAGE[4], base + timedelta(minutes=5))
        await cluster_of(client, "SP-0", 5)
        assert len(await staff_alerts(rt, "temporary_plan_overdue")) == 1
