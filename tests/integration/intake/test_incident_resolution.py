"""Closing an incident resolves its complaints (seed 000; seed 003 ch. 7): each of 50 linked
complaints, whatever its status, is replied to and resolved with the incident's resolution
through the normal lifecycle, once, even when the event comes again."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from services.intake.consumer import HANDLERS
from services.intake.models import platform
from shared.cloudevents import Envelope
from shared.consumer import ConsumerRunner
from shared.events import IncidentResolved
from shared.service import Runtime
from tests.builders import auth, complaint

AGENT = auth("agent", sub="agent-1")
RESOLUTION = "天河区华景新城基站传输光缆已修复，信号已全面恢复"


def _runner(rt: Runtime) -> ConsumerRunner:
    return ConsumerRunner(
        db=rt.db,
        inbox_model=platform.models.inbox,
        group="intake",
        bootstrap=rt.settings.kafka_bootstrap_servers,
        handlers=HANDLERS,
        dlq_producer=rt.producer,
        parked_model=platform.models.parked,
    )


async def _resolutions(rt: Runtime) -> list[dict[str, Any]]:
    async with rt.db.sessions() as s:
        rows = (
            await s.scalars(
                select(platform.models.outbox).where(
                    platform.models.outbox.event_type == "TicketStatusChanged"
                )
            )
        ).all()
    changes = [json.loads(r.value) for r in rows]
    return [c for c in changes if c["to_status"] == "resolved"]


async def test_closing_an_incident_resolves_its_fifty_complaints_once(intake: Any) -> None:
    client, rt = intake
    tickets = []
    for i in range(50):
        body = complaint(description=f"天河区华景新城手机没信号，第{i}位用户")
        r = await client.post("/v1/complaints", json=body, headers=AGENT)
        assert r.status_code == 201, r.text
        tickets.append(r.json()["ticket_no"])
    # a few further along the lifecycle: accepted, in progress, waiting on the customer
    for ticket, commands in ((tickets[1], ["accept"]), (tickets[2], ["accept", "start"])):
        for command in commands:
            r = await client.post(f"/v1/complaints/{ticket}/{command}", json={}, headers=AGENT)
            assert r.status_code == 200, r.text
    duplicate = {"reason": "重复投诉"}
    r = await client.post(f"/v1/complaints/{tickets[3]}/cancel", json=duplicate, headers=AGENT)
    assert r.status_code == 200, r.text
    event = Envelope(
        event=IncidentResolved(
            ticket_no="INC1",
            incident_id=1,
            resolution=RESOLUTION,
            tickets=[*tickets, "TS-NOT-OURS"],
            resolved_by="ops-1",
            resolved_at=datetime.now(UTC),
        )
    )
    runner = _runner(rt)
    await runner.apply(event, topic=event.event.topic)
    await runner.apply(event, topic=event.event.topic)  # redelivered
    resolved = await _resolutions(rt)
    assert sorted(c["ticket_no"] for c in resolved) == sorted(t for t in tickets if t != tickets[3])
    assert {c["resolution"] for c in resolved} == {RESOLUTION}
    one = (await client.get(f"/v1/complaints/{tickets[0]}", headers=AGENT)).json()
    assert one["status"] == "resolved" and one["resolution"]["resolution"] == RESOLUTION
    cancelled = (await client.get(f"/v1/complaints/{tickets[3]}", headers=AGENT)).json()
    assert cancelled["status"] == "cancelled"
