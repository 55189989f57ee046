"""SP complaints at intake (seed 002): the SP code a front-end gives, or the SP the text
names, is recorded and published for dispatch and the per-SP report."""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from services.intake.models import Complaint, platform
from tests.builders import auth, complaint

AGENT = auth("agent")
Outbox = platform.models.outbox


async def _classified(rt: Any, ticket_no: str) -> dict[str, Any]:
    async with rt.db.sessions() as s:
        rows = await s.scalars(
            select(Outbox).where(Outbox.event_type == "TicketClassified", Outbox.key == ticket_no)
        )
        return dict(json.loads(rows.one().value))


async def test_an_sp_named_in_the_text_is_recorded_published_and_reported(intake: Any) -> None:
    client, rt = intake
    body = complaint(description="莫名其妙订了咪咕视频会员，每月扣15元", category="value_added")
    r = await client.post("/v1/complaints", json=body, headers=AGENT)
    assert r.status_code == 201, r.text
    ticket_no = r.json()["ticket_no"]
    event = await _classified(rt, ticket_no)
    assert (event["sp_code"], event["product"]) == ("MIGU", "migu_video")
    async with rt.db.sessions() as s:
        row = await s.scalar(select(Complaint).where(Complaint.ticket_no == ticket_no))
    assert row is not None
    assert row.sp_code is None  # recognised, not confirmed: no SP partner gains access
    assert row.details["sp_recognised"]["evidence"] == "咪咕视频"
    month = row.received_at.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    report = (
        await client.get(
            "/v1/reports/monthly", params={"month": month}, headers=auth("centre_manager")
        )
    ).json()
    assert [s["sp_code"] for s in report["sp_complaints"]] == ["MIGU"]


async def test_a_given_sp_code_is_recorded_and_a_bad_one_is_refused(intake: Any) -> None:
    client, rt = intake
    body = complaint(description="梦网扣费我没订过", category="value_added", sp_code="SP901234")
    r = await client.post("/v1/complaints", json=body, headers=AGENT)
    assert r.status_code == 201, r.text
    event = await _classified(rt, r.json()["ticket_no"])
    assert event["sp_code"] == "SP901234"
    bad = await client.post("/v1/complaints", json={**body, "sp_code": "SP 90/1"}, headers=AGENT)
    assert bad.status_code == 422
    assert any("sp_code" in e["field"] for e in bad.json()["errors"]), bad.text


async def test_a_network_complaint_naming_an_sp_product_is_not_an_sp_complaint(
    intake: Any,
) -> None:
    client, rt = intake
    body = complaint(description="咪咕视频一直卡顿，信号很差", category="network")
    r = await client.post("/v1/complaints", json=body, headers=AGENT)
    event = await _classified(rt, r.json()["ticket_no"])
    assert (event["sp_code"], event["product"]) == (None, None)
