"""TMF621 beyond what TM Forum's kit checks: operators, paging headers, fields, references,
tickets without a customer, the severity/type mapping (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from services.intake.models import Complaint, platform
from shared.events import TicketReceived
from tests.builders import auth, complaint

BASE = "/tmf-api/troubleTicket/v4/troubleTicket"
PARTNER = auth("partner", sub="tmf-partner-b")
AGENT = auth("agent", sub="agent-3")
MERGE = {"content-type": "application/merge-patch+json"}
Outbox = platform.models.outbox


async def _post(client: Any, **body: Any) -> dict[str, Any]:
    r = await client.post(
        BASE,
        json={"description": "小区信号差，通话断断续续", "severity": "Low", "ticketType": "x"}
        | body,
        headers=PARTNER,
    )
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def _ids(client: Any, **params: Any) -> list[str]:
    r = await client.get(BASE, params=params, headers=PARTNER)
    assert r.status_code == 200, r.text
    return [t["id"] for t in r.json()]


async def test_filters_take_tmf_operators_and_tmf_values(intake: Any) -> None:
    client, _ = intake
    high = await _post(client, severity="high", ticketType="connectivity")
    low = await _post(client, severity="Low", ticketType="device")
    critical = await _post(client, severity="Critical", ticketType="device")
    assert high["severity"] == "High"  # canonical spelling, shown as stated
    assert await _ids(client, severity="High") == [high["id"]]
    assert await _ids(client, severity="High,Critical") == [critical["id"], high["id"]]
    assert await _ids(client, **{"severity.in": "Low,Critical"}) == [critical["id"], low["id"]]
    assert await _ids(client, **{"severity.ne": "Low"}) == [critical["id"], high["id"]]
    assert await _ids(client, ticketType="connectivity") == [high["id"]]
    assert await _ids(client, **{"ticketType[nin]": "connectivity"}) == [
        critical["id"],
        low["id"],
    ]
    # status maps to ours: acknowledged covers received and accepted
    await client.post(f"/v1/complaints/{low['id']}/accept", headers=AGENT, json={})
    hold = {"status": "pending", "statusChangeReason": "等客户回电"}
    r = await client.patch(f"{BASE}/{low['id']}", json=hold, headers={**AGENT, **MERGE})
    assert r.status_code == 200 and r.json()["status"] == "pending"
    assert await _ids(client, status="pending") == [low["id"]]
    assert await _ids(client, **{"status.in": "acknowledged,pending"}) == [
        critical["id"],
        low["id"],
        high["id"],
    ]
    r = await client.get(BASE, params={"status": "sleeping"}, headers=PARTNER)
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "status"


async def test_dates_compare_with_gt_and_lt(intake: Any) -> None:
    client, _ = intake
    first = await _post(client)
    second = await _post(client)
    created = first["creationDate"]
    assert await _ids(client, **{"creationDate.gt": created}) == [second["id"]]
    assert await _ids(client, **{"creationDate.lte": created}) == [first["id"]]
    assert await _ids(client, **{"creationDate[gte]": created}) == [second["id"], first["id"]]
    assert await _ids(client, **{"creationDate.lt": "2000-01-01T00:00:00Z"}) == []
    for bad in ({"creationDate.gt": "yesterday"}, {"severity.gt": "Low"}, {"colour": "red"}):
        r = await client.get(BASE, params=bad, headers=PARTNER)
        assert r.status_code == 400 and r.json()["errors"][0]["field"] == next(iter(bad))


async def test_offset_and_limit_page_with_total_and_result_counts(intake: Any) -> None:
    client, _ = intake
    made = [(await _post(client, ticketType="paging"))["id"] for _ in range(5)]
    seen: list[str] = []
    for offset in (0, 2, 4):
        r = await client.get(
            BASE, params={"ticketType": "paging", "offset": offset, "limit": 2}, headers=PARTNER
        )
        assert r.headers["X-Total-Count"] == "5"
        assert r.headers["X-Result-Count"] == str(min(2, 5 - offset))
        seen += [t["id"] for t in r.json()]
    assert seen == list(reversed(made))  # newest first, each exactly once


async def test_fields_on_one_ticket_return_only_what_was_asked(intake: Any) -> None:
    client, _ = intake
    t = await _post(client)
    r = await client.get(f"{BASE}/{t['id']}", params={"fields": "severity,status"}, headers=PARTNER)
    assert r.json() == {"severity": "Low", "status": "acknowledged"}
    r = await client.get(f"{BASE}/{t['id']}", params={"fields": "@type,id"}, headers=PARTNER)
    assert r.json() == {"@type": "TroubleTicket", "id": t["id"]}


async def test_a_ticket_without_a_customer_is_registered_with_its_reason(intake: Any) -> None:
    client, rt = intake
    t = await _post(
        client,
        relatedEntity=[{"id": "GZ-0421", "role": "cell", "@referredType": "Cell"}],
        attachment=[{"url": "https://oss.example/alarm/77.png", "mimeType": "image/png"}],
    )
    assert "relatedParty" not in t
    assert t["relatedEntity"] == [{"id": "GZ-0421", "role": "cell", "@referredType": "Cell"}]
    assert t["attachment"][0]["url"] == "https://oss.example/alarm/77.png"
    ours = (await client.get(f"/v1/complaints/{t['id']}", headers=AGENT)).json()
    assert ours["msisdn"] is None and "without a customer" in ours["no_customer_reason"]
    async with rt.db.sessions() as s:
        rows = (await s.scalars(select(Outbox).where(Outbox.key == t["id"]))).all()
        received = [r for r in rows if r.event_type == "TicketReceived"]
        event = TicketReceived.model_validate_json(received[-1].value)
        assert event.msisdn is None and event.no_customer_reason
        stored = await s.scalar(select(Complaint.msisdn).where(Complaint.ticket_no == t["id"]))
        assert stored is None
    # the 10086 front-ends keep requiring the number
    body = complaint()
    del body["msisdn"]
    r = await client.post("/v1/complaints", json=body, headers=AGENT)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "msisdn"
    report = await client.get(
        "/v1/reports/monthly",
        params={"month": t["creationDate"][:7]},
        headers=auth("leadership"),
    )
    assert report.json()["without_customer"] == 1


async def test_patch_replaces_references_and_adds_notes_as_merge_patch(intake: Any) -> None:
    client, _ = intake
    t = await _post(client, note=[{"author": "网管", "text": "告警已确认"}])
    url = f"{BASE}/{t['id']}"
    other = await _post(client)
    r = await client.patch(
        url,
        json={
            "troubleTicketRelationship": [{"id": other["id"], "relationshipType": "isDuplicateOf"}],
            "relatedEntity": [{"id": "GZ-0422", "role": "cell"}],
            "note": [{"text": "已派单至网优"}],
            "severity": "critical",
            "ticketType": "coverage",
        },
        headers={**AGENT, **MERGE},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["troubleTicketRelationship"][0]["relationshipType"] == "isDuplicateOf"
    assert [e["id"] for e in body["relatedEntity"]] == ["GZ-0422"]
    assert [(n["author"], n["text"]) for n in body["note"]] == [
        ("网管", "告警已确认"),
        ("agent-3", "已派单至网优"),
    ]
    assert body["severity"] == "Critical" and body["ticketType"] == "coverage"
    ours = (await client.get(f"/v1/complaints/{t['id']}", headers=AGENT)).json()
    assert ours["category"] == "network"  # coverage maps to ours
    inline = {"attachment": [{"content": "AAAA"}]}
    r = await client.patch(url, json=inline, headers={**AGENT, **MERGE})
    assert r.status_code == 400  # references only, no inline bytes
    r = await client.patch(url, json={"status": "closed"}, headers={**AGENT, **MERGE})
    assert r.status_code == 409 and r.json()["@type"] == "Error"


async def test_our_judgement_shows_when_it_outranks_the_stated_severity(intake: Any) -> None:
    client, _ = intake
    t = await _post(client, severity="Low", description="营业厅有人持刀威胁工作人员，情况危急")
    ours = (await client.get(f"/v1/complaints/{t['id']}", headers=AGENT)).json()
    assert ours["severity"] == "urgent"  # conflict/safety language, whatever was stated
    assert t["severity"] == "Critical"
    assert await _ids(client, severity="Critical") == [t["id"]]
    assert await _ids(client, severity="Low") == []
    r = await client.post(
        "/v1/complaints", json=complaint(description="家里信号很差"), headers=AGENT
    )
    tmf = (await client.get(f"{BASE}/{r.json()['ticket_no']}", headers=AGENT)).json()
    assert tmf["severity"] == "Minor" and tmf["ticketType"] == "network"
    assert tmf["relatedParty"][0]["id"] == "+8613800138000"
