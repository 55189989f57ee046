"""The refund flow over HTTP: complaints learned from ticket events, idempotent requests and
payouts, escalation of undecided refunds, listing, and refusal of bad input and callers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import func, select

from services.refund.app import create_app
from services.refund.models import AuditRecord, Refund
from shared.broker import Broker
from shared.cloudevents import Envelope
from shared.events import REFUND_TOPIC
from shared.kafka import make_producer
from tests.builders import eventually, running
from tests.conftest import DbTarget
from tests.integration.platform.fixtures import read_topic, send
from tests.integration.refund.conftest import (
    Outbox,
    ask,
    published,
    refund_settings,
    seed_ticket,
    staff,
    status_changed,
    ticket_received,
)


async def test_refunds_follow_the_complaint_as_ticket_events_arrive(
    db_target: DbTarget, broker: Broker
) -> None:
    settings = refund_settings(db_target, broker, consumers_enabled=True, relay_enabled=True)
    producer: AIOKafkaProducer = make_producer(broker.bootstrap, client_id="intake-test")
    await producer.start()
    try:
        async with running(create_app(settings)) as (client, _):
            for ticket_no in ("TK-OPEN", "TK-CLOSED", "TK-CANCELLED"):
                await send(producer, Envelope(event=ticket_received(ticket_no, "prepaid")))
            await send(producer, Envelope(event=status_changed("TK-CLOSED", "closed")))
            await send(producer, Envelope(event=status_changed("TK-CANCELLED", "cancelled")))

            async def projected() -> bool:
                r = await client.get(
                    "/v1/refunds/tickets/TK-CANCELLED/eligibility", headers=staff("agent")
                )
                return r.status_code == 200 and r.json()["ticket_status"] == "cancelled"

            await eventually(projected)
            r = await ask(client, "TK-OPEN", "100.00")
            assert r.status_code == 201 and r.json()["status"] == "approved"
            for ticket_no in ("TK-CLOSED", "TK-CANCELLED"):
                r = await ask(client, ticket_no, "10.00")
                assert r.status_code == 409 and r.json()["title"] == "Complaint not refundable"
            r = await ask(client, "TK-UNKNOWN", "10.00")
            assert r.status_code == 404
            assert r.headers["content-type"] == "application/problem+json"
            records = await read_topic(broker.bootstrap, REFUND_TOPIC, expect=2)
    finally:
        await producer.stop()
    types = [dict(r.headers)["ce_type"].decode() for r in records]
    assert types == ["RefundRequested", "RefundApproved"]
    assert {r.key for r in records} == {b"TK-OPEN"}
    assert json.loads(records[1].value)["amount_fen"] == 10_000


async def test_a_retry_with_the_same_idempotency_key_returns_the_original(
    refund: Any,
) -> None:
    client, rt = refund
    await seed_ticket(rt, "TI-1")
    first = await ask(client, "TI-1", "30.00", **{"Idempotency-Key": "req-1"})
    again = await ask(client, "TI-1", "30.00", **{"Idempotency-Key": "req-1"})
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    other = await ask(client, "TI-1", "31.00", **{"Idempotency-Key": "req-1"})
    assert other.status_code == 422 and other.json()["errors"][0]["field"] == "Idempotency-Key"
    assert len(await published(rt, "RefundRequested", "TI-1")) == 1


async def test_a_payout_is_recorded_once_and_another_reference_conflicts(refund: Any) -> None:
    client, rt = refund
    await seed_ticket(rt, "TB-1")
    approved = (await ask(client, "TB-1", "20.00")).json()
    pending = (await ask(client, "TB-1", "90.00")).json()
    url = f"/v1/refunds/{approved['id']}/paid"
    first = await client.post(url, json={"billing_ref": "BOSS-778"}, headers=staff("billing"))
    assert first.status_code == 200 and first.json()["status"] == "paid"
    again = await client.post(url, json={"billing_ref": "BOSS-778"}, headers=staff("billing"))
    assert again.status_code == 200 and again.json() == first.json()
    other = await client.post(url, json={"billing_ref": "BOSS-779"}, headers=staff("billing"))
    assert other.status_code == 409
    r = await client.post(
        f"/v1/refunds/{pending['id']}/paid", json={"billing_ref": "X"}, headers=staff("billing")
    )
    assert r.status_code == 409
    r = await client.post(url, json={"billing_ref": "BOSS-778"}, headers=staff("frontline"))
    assert r.status_code == 403
    paid = await published(rt, "RefundPaid", "TB-1")
    assert [(e["refund_id"], e["amount_fen"], e["billing_ref"]) for e in paid] == [
        (approved["id"], 2_000, "BOSS-778")
    ]
    audit = (await client.get(f"/v1/refunds/{approved['id']}/audit", headers=staff("ops"))).json()
    assert [(a["action"], a["actor"], a["role"]) for a in audit] == [
        ("requested", "frontline-1", "frontline"),
        ("paid", "billing-1", "billing"),
    ]
    # billing retrying while the first call is still in flight: one payout, same answer
    await seed_ticket(rt, "TB-2")
    twice = (await ask(client, "TB-2", "5.00")).json()
    url = f"/v1/refunds/{twice['id']}/paid"
    both = await asyncio.gather(
        *(
            client.post(url, json={"billing_ref": "BOSS-780"}, headers=staff("billing"))
            for _ in "ab"
        )
    )
    assert [r.status_code for r in both] == [200, 200] and both[0].json() == both[1].json()
    assert len(await published(rt, "RefundPaid", "TB-2")) == 1


BAD_BODIES: list[tuple[dict[str, Any], str]] = [
    ({"amount": "0.00"}, "amount"),
    ({"amount": "-5.00"}, "amount"),
    ({"amount": "1.001"}, "amount"),
    ({"amount": "1.5"}, "amount"),
    ({"amount": "1e3"}, "amount"),
    ({"amount": 150}, "amount"),
    ({"amount": "1000000.01"}, "amount"),
    ({"amount": "99999999999999.00"}, "amount"),
    ({"kind": "bonus"}, "kind"),
    ({"reason": ""}, "reason"),
    ({"ticket_no": ""}, "ticket_no"),
    ({"surprise": True}, "surprise"),
]


async def test_bad_input_is_refused_naming_the_field_and_changes_nothing(refund: Any) -> None:
    client, rt = refund
    await seed_ticket(rt, "TX-1")
    for change, field in BAD_BODIES:
        body = {"ticket_no": "TX-1", "amount": "10.00", "kind": "refund", "reason": "x"}
        body.update(change)
        r = await client.post("/v1/refunds", json=body, headers=staff("frontline"))
        assert r.status_code == 422, (change, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in r.json()["errors"]] == [field], change
    r = await client.post("/v1/refunds/RF-NONE/paid", json={"billing_ref": ""}, headers=staff())
    assert r.status_code == 403
    r = await client.post(
        "/v1/refunds/RF-NONE/paid", json={"billing_ref": ""}, headers=staff("billing")
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "billing_ref"
    async with rt.db.sessions() as session:
        for model in (Refund, AuditRecord, Outbox):
            assert await session.scalar(select(func.count()).select_from(model)) == 0


async def test_callers_need_a_token_and_a_role_that_fits(refund: Any) -> None:
    client, rt = refund
    await seed_ticket(rt, "TA-1")
    body = {"ticket_no": "TA-1", "amount": "10.00", "kind": "refund", "reason": "x"}
    assert (await client.post("/v1/refunds", json=body)).status_code == 401
    for role in ("billing", "ops", "partner"):
        assert (await client.post("/v1/refunds", json=body, headers=staff(role))).status_code == 403
    refund_id = (await ask(client, "TA-1", "200.00")).json()["id"]
    r = await client.post(f"/v1/refunds/{refund_id}/approve", json={}, headers=staff("ops"))
    assert r.status_code == 403
    assert (
        await client.get("/v1/refunds/audit/verify", headers=staff("frontline"))
    ).status_code == 403
    assert (
        await client.get(f"/v1/refunds/{refund_id}", headers=staff("partner"))
    ).status_code == 403
    assert (await client.get(f"/v1/refunds/{refund_id}")).status_code == 401


async def test_refunds_are_listed_by_complaint_and_status_page_by_page(refund: Any) -> None:
    client, rt = refund
    await seed_ticket(rt, "TG-1")
    await seed_ticket(rt, "TG-2")
    ids = [(await ask(client, "TG-1", "30.00")).json()["id"] for _ in range(5)]
    await ask(client, "TG-2", "1.00")
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"ticket_no": "TG-1", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/v1/refunds", params=params, headers=staff("ops"))).json()
        seen += [r["id"] for r in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == ids
    pending = await client.get(
        "/v1/refunds", params={"status": "pending_approval"}, headers=staff("ops")
    )
    assert [r["id"] for r in pending.json()["items"]] == ids[3:]
    got = await client.get(f"/v1/refunds/{ids[0]}", headers=staff("billing"))
    assert got.json()["ticket_no"] == "TG-1" and got.json()["amount"] == "30.00"
    assert (await client.get("/v1/refunds/RF-NONE", headers=staff())).status_code == 404
    r = await client.get("/v1/refunds", params={"status": "lost"}, headers=staff())
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "status"


async def test_an_undecided_refund_escalates_once_across_two_replicas(
    db_target: DbTarget, broker: Broker
) -> None:
    timeout = {"approval_timeout": 0.3}
    async with (
        running(create_app(refund_settings(db_target, broker, **timeout))) as (client, rt),
        running(create_app(refund_settings(db_target, broker, **timeout))),
    ):
        await seed_ticket(rt, "TE-1", "postpaid")
        pending = (await ask(client, "TE-1", "300.00")).json()
        decided = (await ask(client, "TE-1", "50.00", "room_manager")).json()
        assert decided["status"] == "approved"

        async def escalated() -> list[Any]:
            return await published(rt, "RefundEscalated", "TE-1")

        events = await eventually(escalated)
        await asyncio.sleep(0.5)  # more ticks on both replicas change nothing
        assert await escalated() == events and len(events) == 1
        assert events[0]["refund_id"] == pending["id"]
        assert events[0]["required_role"] == "centre_manager"  # the next authority up
        url = f"/v1/refunds/{pending['id']}"
        got = (await client.get(url, headers=staff("ops"))).json()
        assert got["escalated_to"] == "centre_manager" and got["escalated_at"] is not None
        r = await client.post(f"{url}/approve", json={}, headers=staff("room_manager"))
        assert r.status_code == 200
        audit = (await client.get(f"{url}/audit", headers=staff("ops"))).json()
        assert [(a["action"], a["actor"]) for a in audit] == [
            ("requested", "frontline-1"),
            ("escalated", "system"),
            ("approved", "room_manager-1"),
        ]
