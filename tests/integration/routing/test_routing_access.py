"""Routing moves a ticket only for its departments (部门问责制): transfer, escalate and claim by
another department's staff are 404, a caller without a department claims nothing."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaProducer

from shared.cloudevents import Envelope
from tests.builders import auth
from tests.integration.platform.fixtures import send
from tests.integration.routing.test_routing_service import _assigned, classified, routing

__all__ = ["routing"]
BILLING = auth("agent", sub="agent-b", dept="billing_support")
MARKETING = auth("agent", sub="agent-m", dept="marketing")


async def test_another_departments_staff_cannot_move_a_ticket(
    routing: Any, producer: AIOKafkaProducer
) -> None:
    client, _ = routing
    await send(producer, Envelope(event=classified("TS-ACL")))
    await _assigned(client, "TS-ACL")  # handled by billing_support
    moves = [
        ("transfer", {"to_department": "marketing", "reason": "抢单"}),
        ("escalate", {"reason": "越权督办"}),
        ("claim", None),
    ]
    for action, body in moves:
        r = await client.post(f"/v1/assignments/TS-ACL/{action}", json=body, headers=MARKETING)
        assert r.status_code == 404, (action, r.text)
    assert (await client.get("/v1/assignments/TS-ACL", headers=MARKETING)).status_code == 404
    r = await client.post("/v1/assignments/TS-ACL/claim", headers=auth("agent", dept=""))
    assert r.status_code in (403, 404)  # no department: no queue to claim from
    a = await _assigned(client, "TS-ACL")
    assert a["assignee"] is None and a["handler_department"] == "billing_support"
    r = await client.post("/v1/assignments/TS-ACL/claim", headers=BILLING)
    assert r.status_code == 200 and r.json()["assignee"] == "agent-b"
