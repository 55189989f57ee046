"""TMF621 Trouble Ticket v4: a view of the same complaints with the same lifecycle."""

from __future__ import annotations

from typing import Any

from tests.builders import auth

BASE = "/tmf-api/troubleTicket/v4/troubleTicket"
PARTNER = auth("partner", sub="tmf-partner-a")
AGENT = auth("agent", sub="agent-9")
MERGE = {"content-type": "application/merge-patch+json"}


def _ticket(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "description": "本月账单多出一笔28元的增值业务费，我从未订购",
        "severity": "High",
        "ticketType": "value_added",
        "channel": {"name": "web"},
        "relatedParty": [{"id": "13900139000", "role": "customer", "name": "张女士"}],
        "externalId": "PARTNER-A-0001",
        "note": [{"text": "客户首次来电"}],
    }
    body.update(overrides)
    return body


async def test_create_returns_id_href_and_the_mapped_view(intake: Any) -> None:
    client, _ = intake
    r = await client.post(BASE, json=_ticket(), headers=PARTNER)
    assert r.status_code == 201, r.text
    t = r.json()
    assert t["href"] == f"{BASE}/{t['id']}" and r.headers["location"] == t["href"]
    assert t["status"] == "acknowledged"
    assert t["ticketType"] == "value_added"
    assert t["severity"] == "High"  # as stated: our rules judged it normal
    assert t["@type"] == "TroubleTicket" and t["@baseType"] == "TroubleTicket"
    assert t["@schemaLocation"].endswith("#/components/schemas/TroubleTicket")
    assert t["externalId"] == "PARTNER-A-0001"
    assert t["relatedParty"][0]["id"] == "139****9000"  # masked for partners
    assert [n["text"] for n in t["note"]] == ["客户首次来电"]
    assert t["statusChange"][0]["status"] == "acknowledged"
    # the same complaint through our own API
    ours = await client.get(f"/v1/complaints/{t['id']}", headers=AGENT)
    assert ours.json()["msisdn"] == "+8613900139000"
    assert ours.json()["source"]["external_id"] == "PARTNER-A-0001"


async def test_a_missing_mandatory_attribute_is_a_400_in_tmfs_error_model(
    intake: Any,
) -> None:
    client, _ = intake
    for missing in ("description", "severity", "ticketType"):
        body = _ticket()
        del body[missing]
        r = await client.post(BASE, json=body, headers=PARTNER)
        assert r.status_code == 400 and r.headers["content-type"] == "application/json"
        error = r.json()
        assert error["@type"] == "Error" and error["status"] == "400" and error["code"] == "400"
        assert error["reason"] and missing in error["message"]
        assert error["errors"][0]["field"] == missing
    r = await client.post(BASE, json=_ticket(severity="Whenever"), headers=PARTNER)
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "severity"
    r = await client.post(BASE, json=_ticket(note={"author": "x"}), headers=PARTNER)
    assert r.status_code == 400 and r.json()["errors"][0]["field"].startswith("note")
    r = await client.post(
        BASE, json=_ticket(relatedParty=[{"id": "12345", "role": "customer"}]), headers=PARTNER
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "relatedParty"


async def test_the_same_external_id_twice_is_the_original_ticket(intake: Any) -> None:
    client, _ = intake
    first = await client.post(BASE, json=_ticket(), headers=PARTNER)
    again = await client.post(BASE, json=_ticket(), headers=PARTNER)
    assert again.json()["id"] == first.json()["id"]
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    listed = await client.get(BASE, params={"externalId": "PARTNER-A-0001"}, headers=PARTNER)
    assert listed.headers["X-Total-Count"] == "1"


async def test_an_idempotency_key_retry_returns_the_original_ticket(intake: Any) -> None:
    client, _ = intake
    body = _ticket(externalId=None)
    key = {**PARTNER, "Idempotency-Key": "k-1"}
    first = await client.post(BASE, json=body, headers=key)
    again = await client.post(BASE, json=body, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"


async def test_list_filters_fields_paging_and_count_headers(intake: Any) -> None:
    client, _ = intake
    for i in range(5):
        await client.post(BASE, json=_ticket(externalId=f"E{i}"), headers=PARTNER)
    await client.post(
        BASE,
        json=_ticket(externalId="N1", ticketType="network", description="小区信号差，通话断断续续"),
        headers=PARTNER,
    )
    r = await client.get(BASE, params={"ticketType": "value_added", "limit": 2}, headers=PARTNER)
    assert r.headers["X-Total-Count"] == "5" and r.headers["X-Result-Count"] == "2"
    page2 = await client.get(
        BASE, params={"ticketType": "value_added", "limit": 2, "offset": 4}, headers=PARTNER
    )
    assert page2.headers["X-Result-Count"] == "1"
    r = await client.get(BASE, params={"fields": "status,externalId"}, headers=PARTNER)
    assert all(set(t) == {"id", "href", "status", "externalId"} for t in r.json())
    r = await client.get(BASE, params={"externalId": "N1"}, headers=PARTNER)
    assert [t["ticketType"] for t in r.json()] == ["network"]
    r = await client.get(BASE, params={"fields": "nonsense"}, headers=PARTNER)
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "fields"


async def test_patch_follows_our_lifecycle_and_appends_notes(intake: Any) -> None:
    client, _ = intake
    t = (await client.post(BASE, json=_ticket(), headers=PARTNER)).json()
    url = f"{BASE}/{t['id']}"
    r = await client.patch(url, json={"status": "inProgress"}, headers={**AGENT, **MERGE})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "inProgress"
    r = await client.patch(
        url,
        json={"note": [{"text": "已核实为SP违规订购"}], "statusChangeReason": "核实中"},
        headers={**AGENT, **MERGE},
    )
    assert [n["text"] for n in r.json()["note"]] == ["客户首次来电", "已核实为SP违规订购"]
    r = await client.patch(url, json={"status": "closed"}, headers={**AGENT, **MERGE})
    assert r.status_code == 409  # in progress cannot close without resolving first
    r = await client.patch(
        url,
        json={"status": "resolved", "statusChangeReason": "已退订并退费"},
        headers={**AGENT, **MERGE},
    )
    assert r.json()["status"] == "resolved"
    assert r.json()["resolutionDate"]
    r = await client.patch(url, json={"status": "closed"}, headers={**AGENT, **MERGE})
    assert r.json()["status"] == "closed"
    assert [s["status"] for s in r.json()["statusChange"]] == [
        "acknowledged",
        "acknowledged",
        "inProgress",
        "resolved",
        "closed",
    ]
    r = await client.patch(url, json={"note": [{"text": "再补充"}]}, headers={**AGENT, **MERGE})
    assert r.status_code == 422 and r.json()["@type"] == "Error"
    ours = await client.get(f"/v1/complaints/{t['id']}", headers=AGENT)
    assert ours.json()["status"] == "closed"


async def test_patch_rejects_read_only_fields_and_unknown_tickets(intake: Any) -> None:
    client, _ = intake
    t = (await client.post(BASE, json=_ticket(), headers=PARTNER)).json()
    r = await client.patch(f"{BASE}/{t['id']}", json={"id": "X"}, headers={**PARTNER, **MERGE})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "id"
    r = await client.patch(
        f"{BASE}/TS000", json={"status": "pending"}, headers={**PARTNER, **MERGE}
    )
    assert r.status_code == 404
    r = await client.delete(f"{BASE}/{t['id']}", headers=PARTNER)
    assert r.status_code == 405 and r.json()["status"] == "405"
    r = await client.get(BASE)
    assert r.status_code == 401
    r = await client.get(BASE, headers=auth("billing"))
    assert r.status_code == 403
