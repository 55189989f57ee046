"""Intake access scope: every caller reads and changes only the complaints that are theirs
(seed 003 §4.5 职责与权限, §6.5 保密; seed 004 ch. 2 首问负责制/部门问责制)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from standardwebhooks.webhooks import Webhook

from services.intake.app import create_app
from services.intake.models import AccessAudit, Complaint
from services.intake.settings import DEV_PARTNER_SECRETS, IntakeSettings
from shared.broker import Broker
from shared.service import Runtime
from tests.builders import auth, complaint, running, settings_for
from tests.conftest import DbTarget

TMF = "/tmf-api/troubleTicket/v4/troubleTicket"
FRONTDESK = auth("agent", sub="agent-fd", dept="frontdesk_10086")
HALL = auth("frontline", sub="frontline-hall", dept="service_hall")
PARTNER_A = auth("partner", sub="partner-a")
PARTNER_B = auth("partner", sub="partner-b")
MERGE = {"content-type": "application/merge-patch+json"}


@pytest.fixture
async def intake(
    db_target: DbTarget, broker: Broker
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    settings = settings_for(
        IntakeSettings,
        db_target,
        broker.bootstrap,
        relay_enabled=False,
        consumers_enabled=False,
        access_sub_units={"customer_service_centre": ["frontdesk_10086", "service_hall"]},
        access_partner_sp_codes={"partner-sp": ["SP900123"]},
    )
    async with running(create_app(settings)) as pair:
        yield pair


async def _file(client: Any, headers: dict[str, str], **kw: Any) -> str:
    r = await client.post("/v1/complaints", json=complaint(**kw), headers=headers)
    assert r.status_code == 201, r.text
    return str(r.json()["ticket_no"])


async def _tmf(client: Any, headers: dict[str, str], external_id: str) -> str:
    body = {
        "description": "宽带断网三天无人处理",
        "severity": "major",
        "ticketType": "network",
        "relatedParty": [{"id": "13900139000", "role": "customer", "name": "张女士"}],
        "externalId": external_id,
    }
    r = await client.post(TMF, json=body, headers=headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_a_partner_lists_and_reads_only_the_tickets_it_transferred(intake: Any) -> None:
    client, _ = intake
    mine = await _tmf(client, PARTNER_A, "A-1")
    theirs = await _tmf(client, PARTNER_B, "B-1")
    staff = await _file(client, FRONTDESK)
    listed = await client.get(TMF, headers=PARTNER_A)
    assert [t["id"] for t in listed.json()] == [mine]
    assert listed.headers["X-Total-Count"] == "1"
    assert (await client.get(f"{TMF}/{theirs}", headers=PARTNER_A)).status_code == 404
    assert (await client.get(f"/v1/complaints/{staff}", headers=PARTNER_A)).status_code == 404
    native = await client.get("/v1/complaints", headers=PARTNER_A)
    assert [c["ticket_no"] for c in native.json()["items"]] == [mine]
    own = (await client.get(f"{TMF}/{mine}", headers=PARTNER_A)).json()
    assert own["relatedParty"][0] == {
        "id": "139****9000",
        "role": "customer",
        "@referredType": "Individual",
    }  # masked and without the customer's name


async def test_a_partner_can_neither_cancel_nor_close_a_ticket_but_may_add_a_note(
    intake: Any,
) -> None:
    client, rt = intake
    mine = await _tmf(client, PARTNER_A, "A-2")
    theirs = await _tmf(client, PARTNER_B, "B-2")
    for patch in ({"status": "cancelled"}, {"status": "closed"}, {"ticketType": "billing"}):
        r = await client.patch(
            f"{TMF}/{mine}", content=json.dumps(patch), headers={**PARTNER_A, **MERGE}
        )
        assert r.status_code == 403, (patch, r.text)
        r = await client.patch(
            f"{TMF}/{theirs}", content=json.dumps(patch), headers={**PARTNER_A, **MERGE}
        )
        assert r.status_code == 404, (patch, r.text)
    note = {"note": [{"text": "客户补充：断网时间为每晚8点"}]}
    r = await client.patch(
        f"{TMF}/{mine}", content=json.dumps(note), headers={**PARTNER_A, **MERGE}
    )
    assert r.status_code == 200 and r.json()["status"] == "acknowledged"
    r = await client.patch(
        f"{TMF}/{theirs}", content=json.dumps(note), headers={**PARTNER_A, **MERGE}
    )
    assert r.status_code == 404
    for command in ("cancel", "feedback", "accept"):
        body = {"reason": "x", "satisfied": True}
        r = await client.post(f"/v1/complaints/{mine}/{command}", json=body, headers=PARTNER_A)
        assert r.status_code == 403, command
    async with rt.db.sessions() as s:
        statuses = set((await s.scalars(select(Complaint.status))).all())
    assert statuses == {"received"}


async def test_an_agent_of_another_department_sees_and_changes_nothing(intake: Any) -> None:
    client, _ = intake
    fd = await _file(client, FRONTDESK)
    hall = await _file(client, HALL)
    listed = await client.get("/v1/complaints", headers=FRONTDESK)
    assert [c["ticket_no"] for c in listed.json()["items"]] == [fd]
    assert (await client.get(f"/v1/complaints/{hall}", headers=FRONTDESK)).status_code == 404
    for command, body in (("accept", {}), ("cancel", {"reason": "重复"}), ("notes", {"text": "x"})):
        r = await client.post(f"/v1/complaints/{hall}/{command}", json=body, headers=FRONTDESK)
        assert r.status_code == 404, (command, r.text)
    r = await client.post(f"/v1/complaints/{hall}/accept", json={}, headers=HALL)
    assert r.status_code == 200


async def test_managers_reach_their_units_and_leadership_and_ops_read_everything(
    intake: Any,
) -> None:
    client, _ = intake
    fd = await _file(client, FRONTDESK)
    hall = await _file(client, HALL)
    centre = auth("centre_manager", dept="customer_service_centre")
    room = auth("room_manager", dept="service_hall")
    assert {
        c["ticket_no"] for c in (await client.get("/v1/complaints", headers=centre)).json()["items"]
    } == {fd, hall}
    assert [
        c["ticket_no"] for c in (await client.get("/v1/complaints", headers=room)).json()["items"]
    ] == [hall]
    assert (
        await client.post(f"/v1/complaints/{fd}/accept", json={}, headers=room)
    ).status_code == 404
    assert (
        await client.post(f"/v1/complaints/{fd}/accept", json={}, headers=centre)
    ).status_code == 200
    for role in ("leadership", "ops"):
        items = (await client.get("/v1/complaints", headers=auth(role))).json()["items"]
        assert {c["ticket_no"] for c in items} == {fd, hall}
        assert {c["msisdn"] for c in items} == {"138****8000"}
    r = await client.post(f"/v1/complaints/{hall}/accept", json={}, headers=auth("ops"))
    assert r.status_code == 403


async def test_a_partner_reads_the_tickets_that_concern_its_sp_code(intake: Any) -> None:
    client, rt = intake
    ticket = await _file(client, FRONTDESK, description="莫名其妙被扣了增值业务费")
    other = await _file(client, FRONTDESK, description="莫名其妙被扣了增值业务费")
    async with rt.db.uow() as uow:
        await uow.session.execute(
            update(Complaint).where(Complaint.ticket_no == ticket).values(sp_code="SP900123")
        )
        await uow.commit()
    sp = auth("partner", sub="partner-sp")
    assert [t["id"] for t in (await client.get(TMF, headers=sp)).json()] == [ticket]
    assert (await client.get(f"{TMF}/{other}", headers=sp)).status_code == 404


async def test_the_number_search_needs_a_full_number_and_an_allowed_role_and_is_audited(
    intake: Any,
) -> None:
    client, rt = intake
    ticket = await _file(client, FRONTDESK)
    ops = auth("ops", sub="ops-1")
    r = await client.get("/v1/complaints", params={"msisdn": "1380013"}, headers=ops)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "msisdn"
    r = await client.get("/v1/complaints", params={"msisdn": "13800138000"}, headers=PARTNER_A)
    assert r.status_code == 403
    r = await client.get("/v1/complaints", params={"msisdn": "13800138000"}, headers=ops)
    assert [c["msisdn"] for c in r.json()["items"]] == ["138****8000"]  # ops: still masked
    r = await client.get("/v1/complaints", params={"msisdn": "13900000001"}, headers=ops)
    assert r.json()["items"] == []  # a miss is audited too: probing leaves a trail
    looked = await client.get(
        f"/v1/complaints/{ticket}/msisdn", params={"reason": "回访核实"}, headers=ops
    )
    assert looked.status_code == 200 and looked.json()["msisdn"] == "+8613800138000"
    audit = (
        await client.get("/v1/access-audit", params={"actor": "ops-1"}, headers=auth("leadership"))
    ).json()
    assert [(a["action"], a["ticket_nos"]) for a in audit["items"]] == [
        ("lookup_msisdn", [ticket]),
        ("search_msisdn", []),
        ("search_msisdn", [ticket]),
    ]
    assert audit["items"][0]["reason"] == "回访核实"
    assert (await client.get("/v1/access-audit", headers=FRONTDESK)).status_code == 403
    await client.get(f"/v1/complaints/{ticket}", headers=FRONTDESK)  # the full number shown
    async with rt.db.sessions() as s:
        reads = await s.scalar(
            select(func.count())
            .select_from(AccessAudit)
            .where(AccessAudit.actor == "agent-fd", AccessAudit.action == "read_msisdn")
        )
    assert reads == 2  # its registration response and this read


def _signed(body: bytes, partner: str, *, signature: str | None = None) -> dict[str, str]:
    at = datetime.now(UTC)
    return {
        "Partner-Id": partner,
        "webhook-id": f"msg-{at.timestamp()}",
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature
        or Webhook(DEV_PARTNER_SECRETS[partner]).sign(f"msg-{at.timestamp()}", at, body.decode()),
        "content-type": "application/json",
    }


async def test_a_partner_cannot_transfer_as_another_partner(intake: Any) -> None:
    client, rt = intake
    spoof = json.dumps(
        complaint(channel="regulator", source={"org": "miit_12300", "external_id": "12300-1"})
    ).encode()
    r = await client.post(
        "/v1/partner/complaints", content=spoof, headers=_signed(spoof, "consumer_association")
    )
    assert r.status_code == 403, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["field"] == "source.org"
    async with rt.db.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Complaint)) == 0
    real = await client.post(
        "/v1/partner/complaints", content=spoof, headers=_signed(spoof, "miit_12300")
    )
    assert real.status_code == 201  # 12300's own transfer was not pre-empted


@pytest.mark.parametrize("case", ["non_utf8_body", "comma_less_signature", "nan_timestamp"])
async def test_malformed_partner_signatures_are_401_not_500(intake: Any, case: str) -> None:
    client, _ = intake
    body = json.dumps(complaint(source={"org": "miit_12300", "external_id": "x"})).encode()
    headers = _signed(body, "miit_12300")
    if case == "non_utf8_body":
        body = b"\xff\xfe" + body
    elif case == "comma_less_signature":
        headers["webhook-signature"] = "v1abcdef"
    else:
        headers["webhook-timestamp"] = "nan"
    r = await client.post("/v1/partner/complaints", content=body, headers=headers)
    assert r.status_code == 401, r.text


async def test_a_cursor_beyond_64_bits_is_422_naming_the_cursor(intake: Any) -> None:
    import base64

    client, _ = intake
    cursor = base64.urlsafe_b64encode(str(2**64).encode()).decode()
    r = await client.get("/v1/complaints", params={"cursor": cursor}, headers=FRONTDESK)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "cursor"
