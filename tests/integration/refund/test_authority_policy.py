"""The authority policy at run time: ops change it with an audited PUT, bad input is a
problem naming the field, a complaint keeps the rule it was received under, and the front
line refunds only the seed's charge types (梦网, 营销方案漏赠送: seed 004 §2.5)."""

from __future__ import annotations

from typing import Any

from tests.integration.refund.conftest import ask, published, seed_ticket, staff

POLICY = "/v1/refunds/policy"


async def _policy(client: Any) -> dict[str, Any]:
    r = await client.get(POLICY, headers=staff("agent"))
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_the_policy_in_force_is_the_seed_default_until_ops_change_it(refund: Any) -> None:
    client, _ = refund
    policy = await _policy(client)
    limits = [policy[k] for k in ("front_line_fen", "room_manager_fen", "centre_manager_fen")]
    assert limits == [10_000, 50_000, 200_000]
    assert policy["charge_types"]["monternet"] == {"name": "梦网业务费", "front_line": True}
    assert policy["charge_types"]["missed_promotion"]["front_line"] is True
    assert policy["charge_types"]["call"]["front_line"] is False
    assert (await client.get(f"{POLICY}/changes", headers=staff("ops"))).json() == []


async def test_a_bad_policy_is_refused_naming_the_field_and_changes_nothing(refund: Any) -> None:
    client, _ = refund
    before = await _policy(client)
    bad = {**before, "room_manager_fen": 5_000}
    r = await client.put(POLICY, json=bad, headers=staff("ops"))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in r.json()["errors"]] == ["room_manager_fen"]
    unknown = {**before, "sp_charge_type": "lottery"}
    r = await client.put(POLICY, json=unknown, headers=staff("ops"))
    assert [e["field"] for e in r.json()["errors"]] == ["sp_charge_type"]
    r = await client.put(POLICY, json={**before, "front_line_fen": "lots"}, headers=staff("ops"))
    assert [e["field"] for e in r.json()["errors"]] == ["front_line_fen"]
    odd = {**before, "charge_types": {"Bad Code": {"name": "x"}}}
    r = await client.put(POLICY, json=odd, headers=staff("ops"))
    assert [e["field"] for e in r.json()["errors"]] == ["charge_types"]
    assert await _policy(client) == before
    assert (await client.get(f"{POLICY}/changes", headers=staff("ops"))).json() == []


async def test_only_ops_change_the_policy(refund: Any) -> None:
    client, _ = refund
    body = {**(await _policy(client)), "front_line_fen": 20_000}
    for role in ("agent", "room_manager", "leadership"):
        r = await client.put(POLICY, json=body, headers=staff(role))
        assert r.status_code == 403, (role, r.text)
    assert (await _policy(client))["front_line_fen"] == 10_000


async def test_a_change_applies_to_complaints_received_afterwards_and_is_audited(
    refund: Any,
) -> None:
    client, rt = refund
    await seed_ticket(rt, "TV-OLD")
    pending_old = (await ask(client, "TV-OLD", "150.00", "frontline", sub="fl-a")).json()
    assert (pending_old["status"], pending_old["policy_version"]) == ("pending_approval", None)

    body = {**(await _policy(client)), "front_line_fen": 20_000}
    r = await client.put(f"{POLICY}?reason=省公司调整一线权限", json=body, headers=staff("ops"))
    assert r.status_code == 200, r.text
    [change] = (await client.get(f"{POLICY}/changes", headers=staff("ops"))).json()
    assert change["changed_by"] == "ops-1" and change["reason"] == "省公司调整一线权限"
    assert (change["previous"]["front_line_fen"], change["body"]["front_line_fen"]) == (
        10_000,
        20_000,
    )

    await seed_ticket(rt, "TV-NEW")
    new = (await ask(client, "TV-NEW", "150.00", "frontline", sub="fl-a")).json()
    assert (new["status"], new["required_role"]) == ("approved", "frontline")
    assert new["policy_version"] == change["id"]
    # A complaint received before the change keeps its rule, for new requests...
    old_again = (await ask(client, "TV-OLD", "150.00", "frontline", sub="fl-b")).json()
    assert (old_again["status"], old_again["required_role"]) == ("pending_approval", "room_manager")
    # ...and for approving what was asked under it.
    r = await client.post(
        f"/v1/refunds/{pending_old['id']}/approve", json={}, headers=staff("frontline", "fl-c")
    )
    assert r.status_code == 403 and r.json()["required_role"] == "room_manager", r.text
    r = await client.post(
        f"/v1/refunds/{pending_old['id']}/approve", json={}, headers=staff("room_manager")
    )
    assert r.status_code == 200, r.text
    approved = {e["refund_id"]: e for e in await published(rt, "RefundApproved")}
    assert approved[new["id"]]["tier"] == "frontline"
    assert approved[new["id"]]["tier_limit_fen"] == 20_000
    assert approved[pending_old["id"]]["tier_limit_fen"] == 50_000


async def test_the_front_line_refunds_only_the_seeds_charge_types(refund: Any) -> None:
    client, rt = refund
    cases = [
        ("monternet", "approved", "frontline"),
        ("missed_promotion", "approved", "frontline"),
        ("call", "pending_approval", "room_manager"),
        ("package", "pending_approval", "room_manager"),
        (None, "pending_approval", "room_manager"),
    ]
    for i, (charge, status, needed) in enumerate(cases):
        await seed_ticket(rt, f"TC-{i}")
        r = await ask(client, f"TC-{i}", "50.00", "agent", charge_type=charge)
        assert r.status_code == 201, r.text
        got = r.json()
        assert (got["charge_type"], got["status"], got["required_role"]) == (charge, status, needed)
    requested = await published(rt, "RefundRequested")
    assert [e["charge_type"] for e in requested] == [c for c, _, _ in cases]
    assert [e["tier"] for e in requested] == [n for _, _, n in cases]


async def test_an_unknown_charge_type_is_refused_naming_the_field(refund: Any) -> None:
    client, rt = refund
    await seed_ticket(rt, "TC-BAD")
    r = await ask(client, "TC-BAD", "5.00", "agent", charge_type="lottery")
    assert r.status_code == 422, r.text
    assert r.json()["errors"] == [
        {
            "field": "charge_type",
            "message": "must be one of monternet, missed_promotion, call, data, package, other",
        }
    ]
    assert await published(rt, "RefundRequested") == []


async def test_ops_can_give_the_front_line_another_charge_type(refund: Any) -> None:
    client, rt = refund
    policy = await _policy(client)
    types = {**policy["charge_types"], "call": {"name": "通话费", "front_line": True}}
    r = await client.put(POLICY, json={**policy, "charge_types": types}, headers=staff("ops"))
    assert r.status_code == 200, r.text
    await seed_ticket(rt, "TC-CALL")
    got = (await ask(client, "TC-CALL", "50.00", "agent", charge_type="call")).json()
    assert (got["status"], got["required_role"]) == ("approved", "frontline")
