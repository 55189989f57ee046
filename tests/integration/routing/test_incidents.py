"""Emergency mode over routing: declaring a graded incident informs the leader in charge once
within the grade's deadline; matching complaints join its cluster; closing it publishes one
IncidentResolved with every linked ticket (and no second customer message per cluster)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import select

from shared.service import Runtime
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
INCIDENT = {
    "title": "天河华景新城光缆中断",
    "category": "network",
    "area": "天河",
    "keywords": ["信号", "掉线"],
    "grade": "major",
    "cause": "市政施工挖断传输光缆",
}


async def _events(rt: Runtime, event_type: str) -> list[dict[str, Any]]:
    async with rt.db.sessions() as s:
        rows = (await s.scalars(select(Outbox).where(Outbox.event_type == event_type))).all()
    return [json.loads(r.value) for r in rows]


async def test_a_declared_incident_informs_leadership_and_closing_it_resolves_its_tickets(
    routing: Any, producer: AIOKafkaProducer
) -> None:
    client, rt = routing
    r = await client.put(
        "/v1/staff-directory/leader_in_charge/*", json={"holders": [LEADER]}, headers=OPS
    )
    assert r.status_code == 200
    assert (await client.post("/v1/incidents", json=INCIDENT, headers=AGENT)).status_code == 403
    bad = await client.post("/v1/incidents", json={**INCIDENT, "grade": "huge"}, headers=OPS)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "grade"
    r = await client.post("/v1/incidents", json=INCIDENT, headers=OPS)
    assert r.status_code == 201, r.text
    incident = r.json()
    declared_at = datetime.fromisoformat(incident["declared_at"])
    [declared] = await _events(rt, "IncidentDeclared")
    assert declared["grade"] == "major" and declared["cause"] == INCIDENT["cause"]
    [inform] = await staff_alerts(rt, "incident_declared")
    assert [p["name"] for p in inform["recipients"]] == [LEADER["name"]] and inform["urgent"]
    due = datetime.fromisoformat(inform["due_at"])
    assert due - declared_at == timedelta(hours=2)  # 重大: leadership within 2 hours
    base = in_one_shift(timedelta(minutes=5))
    for i in range(4):
        await complain(producer, f"SI-{i}", OUTAGE[i], base + timedelta(minutes=i))
    cluster = await cluster_of(client, "SI-0", 4)
    url = f"/v1/incidents/{incident['id']}/close"
    assert (await client.post(url, json={}, headers=OPS)).status_code == 422
    r = await client.post(url, json={"resolution": "光缆已熔接，信号已恢复"}, headers=OPS)
    assert r.status_code == 200, r.text
    assert r.json()["ticket_count"] == 4 and r.json()["closed_by"] == "t-ops"
    again = await client.post(url, json={"resolution": "再说一次"}, headers=OPS)
    assert again.status_code == 200 and again.json()["resolution"] == "光缆已熔接，信号已恢复"
    [resolved] = await _events(rt, "IncidentResolved")
    assert sorted(resolved["tickets"]) == ["SI-0", "SI-1", "SI-2", "SI-3"]
    assert await _events(rt, "SurgeResolved") == []  # customers hear it from their tickets
    detail = (await client.get(f"/v1/surges/{cluster['id']}", headers=AGENT)).json()
    assert detail["state"] == "resolved" and detail["incident_id"] == incident["id"]
    assert len(await staff_alerts(rt, "incident_declared")) == 1
