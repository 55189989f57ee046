"""Refund authority over HTTP: the inclusive ladder at every boundary, prepaid vs postpaid at
the front line, the cumulative rule, double refunds, four eyes, and concurrent writers."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.integration.refund.conftest import ask, published, seed_ticket, staff

# user type, amount, requester, expected status, least role that may approve the total
LADDER = [
    ("prepaid", "100.00", "frontline", "approved", "frontline"),
    ("prepaid", "100.01", "frontline", "pending_approval", "room_manager"),
    ("prepaid", "100.00", "agent", "approved", "frontline"),
    ("postpaid", "100.00", "frontline", "pending_approval", "room_manager"),
    ("postpaid", "0.01", "frontline", "pending_approval", "room_manager"),
    (None, "10.00", "frontline", "pending_approval", "room_manager"),
    ("postpaid", "500.00", "room_manager", "approved", "room_manager"),
    ("postpaid", "500.01", "room_manager", "pending_approval", "centre_manager"),
    ("prepaid", "2000.00", "centre_manager", "approved", "centre_manager"),
    ("postpaid", "2000.01", "centre_manager", "pending_approval", "leadership"),
    ("postpaid", "2000.01", "leadership", "approved", "leadership"),
]


async def test_each_boundary_of_the_ladder_decides_who_approves(refund: Any) -> None:
    client, rt = refund
    for i, (user_type, amount, role, status, needed) in enumerate(LADDER):
        await seed_ticket(rt, f"TL-{i}", user_type)
        r = await ask(client, f"TL-{i}", amount, role)
        assert r.status_code == 201, r.text
        got = r.json()
        assert (got["status"], got["required_role"]) == (status, needed), (i, got)
        assert got["amount"] == got["complaint_total"] == amount
    approved = {e["ticket_no"] for e in await published(rt, "RefundApproved")}
    assert approved == {f"TL-{i}" for i, case in enumerate(LADDER) if case[3] == "approved"}
    requested = await published(rt, "RefundRequested")
    assert [e["status"] for e in requested] == [case[3] for case in LADDER]


# amount, user type, approver below the line, the role the 403 must name
APPROVALS = [
    ("100.01", "prepaid", "frontline", "room_manager"),
    ("100.00", "postpaid", "frontline", "room_manager"),
    ("500.01", "postpaid", "room_manager", "centre_manager"),
    ("2000.01", "prepaid", "centre_manager", "leadership"),
]


async def test_an_approver_below_the_line_gets_403_naming_the_role_needed(refund: Any) -> None:
    client, rt = refund
    for i, (amount, user_type, too_low, needed) in enumerate(APPROVALS):
        await seed_ticket(rt, f"TP-{i}", user_type)
        pending = (await ask(client, f"TP-{i}", amount, "agent", sub="requester")).json()
        assert pending["status"] == "pending_approval"
        url = f"/v1/refunds/{pending['id']}"
        for verb, body in (("approve", {"comment": "同意"}), ("reject", {"reason": "不同意"})):
            r = await client.post(f"{url}/{verb}", json=body, headers=staff(too_low, "other"))
            assert r.status_code == 403, r.text
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["required_role"] == needed and r.json()["rule"] == "authority"
        r = await client.post(f"{url}/approve", json={"comment": "同意"}, headers=staff(needed))
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "approved" and r.json()["decided_by"] == f"{needed}-1"
        assert r.json()["decision_note"] == "同意"
    assert len(await published(rt, "RefundApproved")) == len(APPROVALS)
    r = await client.post(f"{url}/approve", json={}, headers=staff("leadership", "boss"))
    assert r.status_code == 409


async def test_one_requesters_refunds_on_a_ticket_within_24_hours_count_together(
    refund: Any,
) -> None:
    client, rt = refund
    await seed_ticket(rt, "TC-PRE", "prepaid")
    statuses = [(await ask(client, "TC-PRE", "40.00")).json()["status"] for _ in range(3)]
    assert statuses == ["approved", "approved", "pending_approval"]

    await seed_ticket(rt, "TC-POST", "postpaid")
    first = [(await ask(client, "TC-POST", "200.00", "room_manager")).json() for _ in range(3)]
    assert [r["status"] for r in first] == ["approved", "approved", "pending_approval"]
    assert [r["complaint_total"] for r in first] == ["200.00", "400.00", "600.00"]
    assert first[2]["required_role"] == "centre_manager"
    # a pending refund counts too: even a small one now needs the centre manager
    small = (await ask(client, "TC-POST", "50.00", "room_manager")).json()
    assert (small["status"], small["complaint_total"]) == ("pending_approval", "650.00")
    for pending in (first[2], small):
        r = await client.post(
            f"/v1/refunds/{pending['id']}/reject",
            json={"reason": "金额不符"},
            headers=staff("centre_manager"),
        )
        assert r.json()["status"] == "rejected"
    # rejected refunds drop out of the total
    again = (await ask(client, "TC-POST", "100.00", "room_manager")).json()
    assert (again["status"], again["complaint_total"]) == ("approved", "500.00")
    assert len(await published(rt, "RefundRejected", "TC-POST")) == 2


async def test_a_double_refund_pays_back_and_counts_twice_the_charge(refund: Any) -> None:
    client, rt = refund
    cases = [
        ("TD-1", "prepaid", "50.00", "frontline", "approved", "100.00"),
        ("TD-2", "prepaid", "50.01", "frontline", "pending_approval", "100.02"),
        ("TD-3", "postpaid", "250.00", "room_manager", "approved", "500.00"),
        ("TD-4", "postpaid", "250.01", "room_manager", "pending_approval", "500.02"),
    ]
    for ticket_no, user_type, amount, role, status, payout in cases:
        await seed_ticket(rt, ticket_no, user_type)
        r = (await ask(client, ticket_no, amount, role, kind="double_refund")).json()
        assert (r["status"], r["amount"], r["payout"]) == (status, amount, payout), r
        assert r["complaint_total"] == payout
    approved = await published(rt, "RefundApproved", "TD-1")
    assert approved[0]["amount_fen"] == 10_000 and approved[0]["kind"] == "double_refund"
    # a waiver is a concession the front line may not grant, however small
    await seed_ticket(rt, "TD-5", "prepaid")
    waiver = (await ask(client, "TD-5", "10.00", kind="waiver")).json()
    assert (waiver["status"], waiver["required_role"]) == ("pending_approval", "room_manager")


async def test_a_refund_is_never_approved_by_the_person_who_requested_it(refund: Any) -> None:
    client, rt = refund
    await seed_ticket(rt, "TF-1", "postpaid")
    pending = (await ask(client, "TF-1", "300.00", "frontline", sub="li")).json()
    url = f"/v1/refunds/{pending['id']}"
    # the requester holds room-manager authority on another token: still not them
    for verb, body in (("approve", {}), ("reject", {"reason": "撤回"})):
        r = await client.post(f"{url}/{verb}", json=body, headers=staff("room_manager", "li"))
        assert r.status_code == 403
        assert r.json()["rule"] == "four_eyes" and r.json()["required_role"] == "room_manager"
    r = await client.post(f"{url}/approve", json={}, headers=staff("room_manager", "wang"))
    assert r.status_code == 200 and r.json()["decided_by"] == "wang"
    audit = (await client.get(f"{url}/audit", headers=staff("ops"))).json()
    assert [(a["action"], a["actor"]) for a in audit] == [("requested", "li"), ("approved", "wang")]


async def test_when_two_managers_approve_at_once_exactly_one_wins(refund: Any) -> None:
    client, rt = refund
    ids = []
    for i in range(4):
        await seed_ticket(rt, f"TW-{i}", "postpaid")
        ids.append((await ask(client, f"TW-{i}", "300.00")).json()["id"])

    async def approve(refund_id: str, who: str) -> int:
        r = await client.post(
            f"/v1/refunds/{refund_id}/approve", json={}, headers=staff("room_manager", who)
        )
        return r.status_code

    results = await asyncio.gather(*(approve(i, who) for i in ids for who in ("zhao", "qian")))
    assert sorted(results) == [200] * 4 + [409] * 4
    approved = await published(rt, "RefundApproved")
    assert sorted(e["refund_id"] for e in approved) == sorted(ids)
    for refund_id in ids:
        audit = (await client.get(f"/v1/refunds/{refund_id}/audit", headers=staff("ops"))).json()
        assert [a["action"] for a in audit] == ["requested", "approved"]


async def test_simultaneous_requests_by_one_requester_cannot_dodge_the_anti_splitting_guard(
    refund: Any,
) -> None:
    client, rt = refund
    await seed_ticket(rt, "TS-1", "prepaid")
    responses = await asyncio.gather(
        *(ask(client, "TS-1", "40.00", sub="agent-1") for _ in range(5))
    )
    assert [r.status_code for r in responses] == [201] * 5
    refunds = sorted((r.json() for r in responses), key=lambda r: float(r["complaint_total"]))
    assert [r["complaint_total"] for r in refunds] == [
        "40.00",
        "80.00",
        "120.00",
        "160.00",
        "200.00",
    ]
    assert [r["status"] for r in refunds] == ["approved"] * 2 + ["pending_approval"] * 3
    assert len(await published(rt, "RefundApproved", "TS-1")) == 2


async def test_seed_004_cases_per_refund_with_the_anti_splitting_guard(refund: Any) -> None:
    """每次每单 (seed 004 §2.5) with the 24-hour same-requester guard."""
    client, rt = refund
    await seed_ticket(rt, "TQ-PRE", "prepaid")
    one = (await ask(client, "TQ-PRE", "80.00", "frontline", sub="fl-li")).json()
    two = (await ask(client, "TQ-PRE", "80.00", "frontline", sub="fl-li")).json()
    assert one["status"] == "approved"
    assert (two["status"], two["required_role"]) == ("pending_approval", "room_manager")
    # Another front-line agent's 80.00 on the same ticket is its own refund.
    other = (await ask(client, "TQ-PRE", "80.00", "frontline", sub="fl-zhao")).json()
    assert other["status"] == "approved"
    big = (await ask(client, "TQ-PRE", "600.00", "room_manager", sub="rm-wu")).json()
    assert (big["status"], big["required_role"]) == ("pending_approval", "centre_manager")
    await seed_ticket(rt, "TQ-POST", "postpaid")
    post = (await ask(client, "TQ-POST", "50.00", "frontline", sub="fl-li")).json()
    assert (post["status"], post["required_role"]) == ("pending_approval", "room_manager")
