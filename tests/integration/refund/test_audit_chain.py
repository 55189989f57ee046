"""The refund audit trail: every decision is an entry in one hash chain, and a row rewritten
or deleted in SQL is reported by the verify endpoint, with where."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
from sqlalchemy import text

from services.refund import audit_log
from services.refund.audit import compute_hash
from services.refund.models import AuditRecord
from shared.service import Runtime
from tests.integration.refund.conftest import ask, seed_ticket, staff

AUDITOR = staff("ops")


async def _verify(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await client.get("/v1/refunds/audit/verify", headers=AUDITOR)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _sql(rt: Runtime, statement: str, **params: Any) -> None:
    async with rt.db.uow() as uow:
        await uow.session.execute(text(statement), params)
        await uow.commit()


async def _decisions(client: httpx.AsyncClient, rt: Runtime) -> list[str]:
    """A request approved by a manager and paid, and one rejected: five entries."""
    await seed_ticket(rt, "TAU-1", "postpaid")
    paid = (await ask(client, "TAU-1", "120.00", sub="li")).json()["id"]
    rejected = (await ask(client, "TAU-1", "80.00", sub="li")).json()["id"]
    await client.post(
        f"/v1/refunds/{paid}/approve", json={"comment": "核实属实"}, headers=staff("room_manager")
    )
    await client.post(
        f"/v1/refunds/{rejected}/reject", json={"reason": "重复申请"}, headers=staff("room_manager")
    )
    await client.post(
        f"/v1/refunds/{paid}/paid", json={"billing_ref": "BOSS-1"}, headers=staff("billing")
    )
    return [paid, rejected]


async def test_each_decision_is_an_audit_entry_in_one_chain(refund: Any) -> None:
    client, rt = refund
    paid, rejected = await _decisions(client, rt)
    entries = (await client.get(f"/v1/refunds/{paid}/audit", headers=AUDITOR)).json()
    assert [(e["action"], e["actor"], e["role"]) for e in entries] == [
        ("requested", "li", "frontline"),
        ("approved", "room_manager-1", "room_manager"),
        ("paid", "billing-1", "billing"),
    ]
    assert {e["amount_fen"] for e in entries} == {12_000}
    approved = entries[1]
    assert approved["reason"] == "核实属实"
    assert (approved["before"]["status"], approved["after"]["status"]) == (
        "pending_approval",
        "approved",
    )
    other = (await client.get(f"/v1/refunds/{rejected}/audit", headers=AUDITOR)).json()
    assert [(e["action"], e["reason"]) for e in other] == [
        ("requested", "扣费有误"),
        ("rejected", "重复申请"),
    ]
    # one chain for the service: the refunds' entries interleave and link up
    assert sorted(e["seq"] for e in entries + other) == [1, 2, 3, 4, 5]
    verdict = await _verify(client)
    assert verdict["ok"] and verdict["checked"] == 5 and verdict["head_seq"] == 5
    assert verdict["head_hash"] == max(entries + other, key=lambda e: e["seq"])["hash"]
    r = await client.get("/v1/refunds/RF-NONE/audit", headers=AUDITOR)
    assert r.status_code == 404


async def test_a_rewritten_or_deleted_audit_row_is_reported_with_its_seq(refund: Any) -> None:
    client, rt = refund
    await _decisions(client, rt)
    assert (await _verify(client))["ok"]
    async with rt.db.sessions() as session:
        record = await session.get(AuditRecord, 2)
        assert record is not None
        original = audit_log.as_entry(record)
    restore = "UPDATE audit_entry SET amount_fen = :amount, hash = :hash WHERE seq = 2"

    await _sql(rt, "UPDATE audit_entry SET amount_fen = 1 WHERE seq = 2")
    verdict = await _verify(client)
    assert (verdict["ok"], verdict["first_bad_seq"], verdict["defect"]) == (False, 2, "hash")
    assert verdict["checked"] == 1 and verdict["head_seq"] == 1

    # recomputing the hash does not help someone who lacks the server-side key
    forged = compute_hash(replace(original, amount_fen=1))
    await _sql(rt, restore, amount=1, hash=forged)
    verdict = await _verify(client)
    assert (verdict["ok"], verdict["first_bad_seq"]) == (False, 2)

    await _sql(rt, restore, amount=original.amount_fen, hash=original.hash)
    assert (await _verify(client))["ok"]

    await _sql(rt, "DELETE FROM audit_entry WHERE seq = 4")
    verdict = await _verify(client)
    assert (verdict["ok"], verdict["first_bad_seq"], verdict["defect"]) == (
        False,
        5,
        "sequence",
    )
    assert verdict["checked"] == 3


async def test_the_chain_verifies_across_batches_and_finds_a_gap_at_a_boundary(
    refund: Any,
) -> None:
    client, rt = refund
    await _decisions(client, rt)
    key = rt.settings.audit_key.encode()
    async with rt.db.sessions() as session:
        result, head = await audit_log.verify_chain(session, key=key, batch=2)
    assert result.ok and result.checked == 5 and head == 5
    await _sql(rt, "DELETE FROM audit_entry WHERE seq = 3")  # the first of a batch
    async with rt.db.sessions() as session:
        result, head = await audit_log.verify_chain(session, key=key, batch=2)
    assert (result.ok, result.first_bad_seq, result.checked, head) == (False, 4, 2, 2)
    async with rt.db.sessions() as session:
        result, _ = await audit_log.verify_chain(session, key=b"another key", batch=2)
    assert (result.ok, result.first_bad_seq) == (False, 1)
