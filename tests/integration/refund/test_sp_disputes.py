"""SP charge disputes: proof in time closes them; without proof by the deadline a provisional
refund is requested exactly once, across a restart and two replicas."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from services.refund.app import create_app
from services.refund.models import Refund, SpDispute
from services.refund.timers import timer_commands
from shared.broker import Broker
from shared.db import utcnow
from tests.builders import eventually, running
from tests.conftest import DbTarget
from tests.integration.refund.conftest import ask, published, refund_settings, seed_ticket, staff


async def _open(
    client: httpx.AsyncClient,
    ticket_no: str,
    charge: str = "30.00",
    sp_code: str = "SP901234",
    paid: bool = True,
) -> httpx.Response:
    body = {"ticket_no": ticket_no, "sp_code": sp_code, "charge_amount": charge, "paid": paid}
    return await client.post("/v1/sp-disputes", json=body, headers=staff("agent"))


async def test_proof_in_time_closes_the_dispute_and_nothing_is_refunded(refund: Any) -> None:
    client, rt = refund
    await seed_ticket(rt, "TSP-1")
    r = await _open(client, "TSP-1")
    assert r.status_code == 201, r.text
    dispute = r.json()
    due = datetime.fromisoformat(dispute["proof_due_at"])
    assert abs(due - datetime.now(UTC) - timedelta(days=15)) < timedelta(minutes=1)
    assert (dispute["status"], dispute["charge_amount"]) == ("open", "30.00")
    assert (await _open(client, "TSP-1")).status_code == 409  # one open dispute per SP
    url = f"/v1/sp-disputes/{dispute['id']}"
    proof = {"proof_ref": "ORDER-2026-0001", "note": "用户短信确认订购记录"}
    # Another SP's partner, or any member of staff, cannot prove this SP's charge.
    for who in (staff("partner", "sp-777"), staff("leadership"), staff("room_manager")):
        denied = await client.post(f"{url}/proof", json=proof, headers=who)
        assert denied.status_code == 403 and denied.json()["rule"] == "sp_proof_by_own_sp"
    assert (await client.get(url, headers=staff("ops"))).json()["status"] == "open"
    r = await client.post(f"{url}/proof", json=proof, headers=staff("partner", "sp-901234"))
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["closed_by"]) == ("proven", "sp-901234")
    again = await client.post(f"{url}/proof", json=proof, headers=staff("partner", "sp-901234"))
    assert again.status_code == 409
    opened = await published(rt, "SpDisputeOpened", "TSP-1")
    closed = await published(rt, "SpDisputeClosed", "TSP-1")
    assert [e["charge_amount_fen"] for e in opened] == [3_000]
    assert [(e["outcome"], e["refund_id"]) for e in closed] == [("proven", None)]
    assert (await client.get(url, headers=staff("ops"))).json()["proof_ref"] == "ORDER-2026-0001"
    assert await published(rt, "RefundRequested", "TSP-1") == []


async def test_dispute_input_and_callers_are_checked(refund: Any) -> None:
    client, rt = refund
    await seed_ticket(rt, "TSP-2")
    for charge in ("0.00", "12.345", "abc"):
        r = await _open(client, "TSP-2", charge)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "charge_amount"
    r = await _open(client, "TSP-2", sp_code="SP 9")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "sp_code"
    assert (await _open(client, "TSP-NONE")).status_code == 404
    body = {"ticket_no": "TSP-2", "sp_code": "SP1", "charge_amount": "1.00"}
    r = await client.post("/v1/sp-disputes", json=body, headers=staff("partner"))
    assert r.status_code == 403
    assert (await client.get("/v1/sp-disputes/SP-NONE", headers=staff())).status_code == 404
    assert await published(rt, "SpDisputeOpened") == []


async def test_proof_after_the_window_is_refused(db_target: DbTarget, broker: Broker) -> None:
    settings = refund_settings(db_target, broker, sp_proof_window=0.2, scheduler_enabled=False)
    async with running(create_app(settings)) as (client, rt):
        await seed_ticket(rt, "TSP-3")
        dispute = (await _open(client, "TSP-3")).json()
        await asyncio.sleep(0.3)
        r = await client.post(
            f"/v1/sp-disputes/{dispute['id']}/proof",
            json={"proof_ref": "LATE-1"},
            headers=staff("partner", "sp-901234"),
        )
        assert r.status_code == 409 and "window has passed" in r.json()["detail"]


async def test_without_proof_one_provisional_refund_is_made_across_a_restart(
    db_target: DbTarget, broker: Broker
) -> None:
    window = 1.0
    settings = refund_settings(db_target, broker, sp_proof_window=window)
    async with running(create_app(settings)) as (client, rt):
        await seed_ticket(rt, "TSP-4", "prepaid")
        dispute = (await _open(client, "TSP-4", "30.00")).json()
    # the service is down when the window closes; two replicas come back
    await asyncio.sleep(window)
    async with (
        running(create_app(refund_settings(db_target, broker, sp_proof_window=window))) as (
            client,
            rt,
        ),
        running(create_app(refund_settings(db_target, broker, sp_proof_window=window))),
    ):
        url = f"/v1/sp-disputes/{dispute['id']}"

        async def closed() -> dict[str, Any] | None:
            got = (await client.get(url, headers=staff())).json()
            return got if got["status"] != "open" else None

        got = await eventually(closed)
        await asyncio.sleep(0.5)  # more ticks on both replicas change nothing
        assert got["status"] == "provisional_refund" and got["closed_by"] == "system"
        listed = await client.get("/v1/refunds", params={"ticket_no": "TSP-4"}, headers=staff())
        refunds = listed.json()["items"]
        assert len(refunds) == 1
        provisional = refunds[0]
        assert provisional["id"] == got["refund_id"]
        assert (provisional["kind"], provisional["amount"]) == ("provisional", "30.00")
        assert provisional["dispute_id"] == dispute["id"]
        # the rule requests it and the configured system authority approves it, once
        assert provisional["status"] == "approved"
        assert (provisional["requested_by"], provisional["decided_by"]) == (
            "system",
            "policy:sp_provisional_refund",
        )
        assert len(await published(rt, "RefundApproved", "TSP-4")) == 1
        closed_events = await published(rt, "SpDisputeClosed", "TSP-4")
        assert [(e["outcome"], e["refund_id"]) for e in closed_events] == [
            ("provisional_refund", provisional["id"])
        ]
        assert len(await published(rt, "RefundRequested", "TSP-4")) == 1
        audit = await client.get(f"/v1/refunds/{provisional['id']}/audit", headers=staff("ops"))
        assert [e["action"] for e in audit.json()] == ["requested", "approved"]
        late = await client.post(
            f"{url}/proof", json={"proof_ref": "X"}, headers=staff("partner", "sp-901234")
        )
        assert late.status_code == 409


async def test_a_replica_that_read_a_timer_as_due_does_nothing_once_another_fired_it(
    db_target: DbTarget, broker: Broker
) -> None:
    """The compare-and-set, deterministically: both replicas loaded the row as due."""
    settings = refund_settings(
        db_target, broker, sp_proof_window=0.1, approval_timeout=0.1, scheduler_enabled=False
    )
    async with (
        running(create_app(settings)) as (client, rt),
        running(create_app(settings)) as (_, other),
    ):
        await seed_ticket(rt, "TSP-5", "postpaid")
        dispute_id = (await _open(client, "TSP-5")).json()["id"]
        refund_id = (await ask(client, "TSP-5", "300.00")).json()["id"]
        await asyncio.sleep(0.2)
        fires = timer_commands(settings.rules())
        for model, row_id, fire in (
            (SpDispute, dispute_id, fires["SP proof deadline"]),
            (Refund, refund_id, fires["approval escalation"]),
        ):
            async with other.db.uow() as stale:
                loaded = await stale.session.get(model, row_id)  # read as due, and kept
                assert loaded is not None
                async with rt.db.uow() as first:
                    assert await fire(first, row_id, utcnow())
                    await first.commit()
                assert not await fire(stale, row_id, utcnow())
                await stale.commit()
                del loaded
        assert len(await published(rt, "SpDisputeClosed", "TSP-5")) == 1
        assert len(await published(rt, "RefundEscalated", "TSP-5")) == 1
        listed = await client.get("/v1/refunds", params={"ticket_no": "TSP-5"}, headers=staff())
        assert [r["kind"] for r in listed.json()["items"]] == ["refund", "provisional"]


async def test_an_unpaid_disputed_charge_is_held_from_collection_and_never_refunded(
    db_target: DbTarget, broker: Broker
) -> None:
    settings = refund_settings(db_target, broker, sp_proof_window=0.3)
    async with running(create_app(settings)) as (client, rt):
        await seed_ticket(rt, "TSP-U", "postpaid")
        r = await _open(client, "TSP-U", "18.00", paid=False)
        assert r.status_code == 201 and r.json()["paid"] is False
        [held] = await published(rt, "SpChargeHeld", "TSP-U")
        assert (held["sp_code"], held["amount_fen"]) == ("SP901234", 1_800)
        url = f"/v1/sp-disputes/{r.json()['id']}"

        async def closed() -> dict[str, Any] | None:
            got = (await client.get(url, headers=staff())).json()
            return got if got["status"] != "open" else None

        got = await eventually(closed)
        assert got["status"] == "not_collected" and got["refund_id"] is None
        listed = await client.get("/v1/refunds", params={"ticket_no": "TSP-U"}, headers=staff())
        assert listed.json()["items"] == []
        assert await published(rt, "RefundRequested", "TSP-U") == []
        closed_events = await published(rt, "SpDisputeClosed", "TSP-U")
        assert [e["outcome"] for e in closed_events] == ["not_collected"]
        r = await client.post(
            "/v1/sp-disputes",
            json={"ticket_no": "TSP-U", "sp_code": "SP1", "charge_amount": "1.00"},
            headers=staff("agent"),
        )
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "paid"
