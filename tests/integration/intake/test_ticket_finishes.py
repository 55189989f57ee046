"""Every complaint finishes: no survey answer closes it, closed ones are archived after 3
working days and refuse every command, and the retention job anonymises archived ones
past 3 years while the monthly report still counts them. Timers run on a manual clock."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from services.intake import domain
from services.intake.closing import Closing
from services.intake.models import Complaint, platform
from shared.time import SHANGHAI
from tests.builders import auth, complaint

Outbox = platform.models.outbox
AGENT = auth("agent", sub="agent-7")
MANAGER = auth("centre_manager")
RESOLVE = {"resolution": "基站故障已修复，信号恢复正常", "responsibility": "company"}
COMMANDS: dict[str, dict[str, Any]] = {
    "accept": {},
    "start": {},
    "reply": {"message": "已安排核查"},
    "hold": {"reason": "等待客户提供地址"},
    "resume": {},
    "resolve": RESOLVE,
    "feedback": {"satisfied": True},
    "cancel": {"reason": "客户撤诉"},
    "notes": {"text": "补充说明"},
    "reclassify": {"category": "billing", "reason": "分类错误"},
}


async def _resolved(client: Any, **overrides: Any) -> str:
    r = await client.post("/v1/complaints", json=complaint(**overrides), headers=AGENT)
    assert r.status_code == 201, r.text
    ticket_no = str(r.json()["ticket_no"])
    for command, body in (("accept", {}), ("start", {}), ("resolve", RESOLVE)):
        r = await client.post(f"/v1/complaints/{ticket_no}/{command}", json=body, headers=AGENT)
        assert r.status_code == 200, r.text
    return ticket_no


async def _row(rt: Any, ticket_no: str) -> Complaint:
    async with rt.db.sessions() as s:
        row = await s.scalar(select(Complaint).where(Complaint.ticket_no == ticket_no))
    assert row is not None
    return row


async def _status_events(rt: Any, ticket_no: str) -> list[dict[str, Any]]:
    async with rt.db.sessions() as s:
        rows = (
            await s.scalars(
                select(Outbox)
                .where(Outbox.key == ticket_no, Outbox.event_type == "TicketStatusChanged")
                .order_by(Outbox.id)
            )
        ).all()
    return [json.loads(r.value) for r in rows]


async def test_no_survey_answer_closes_then_archives_refuses_commands_and_anonymises(
    intake: Any,
) -> None:
    client, rt = intake
    closing = Closing(rt.settings)
    ticket_no = await _resolved(
        client, customer_name="张三", email="zhang.san@example.com", location="天河区华景新城"
    )
    resolved_at = (await _row(rt, ticket_no)).resolved_at
    assert resolved_at is not None
    received_month = (await _row(rt, ticket_no)).received_at.astimezone(SHANGHAI)

    # the survey waits 3 days; one minute short of that nothing happens
    assert await closing.tick(rt.db, resolved_at + timedelta(days=3, minutes=-1)) == 0
    assert (await _row(rt, ticket_no)).status == "resolved"
    closed_at = resolved_at + timedelta(days=3, minutes=1)
    assert await closing.tick(rt.db, closed_at) == 1
    assert await closing.tick(rt.db, closed_at) == 0  # a second run (or replica) moves nothing
    body = (await client.get(f"/v1/complaints/{ticket_no}", headers=AGENT)).json()
    assert body["status"] == "closed"
    assert body["feedback"]["result"] == "no_reply"
    last = (await _status_events(rt, ticket_no))[-1]
    assert (last["from_status"], last["to_status"], last["reason"]) == (
        "resolved",
        "closed",
        "no_reply",
    )

    # archived at the end of the 3rd working day after closing, not before
    due = domain.archive_due(closed_at, 3)
    assert await closing.tick(rt.db, due - timedelta(minutes=1)) == 0
    assert (await _row(rt, ticket_no)).archive_due_at == due
    assert await closing.tick(rt.db, due) == 1
    body = (await client.get(f"/v1/complaints/{ticket_no}", headers=AGENT)).json()
    assert body["status"] == "archived" and body["allowed_commands"] == []
    assert [e["to_status"] for e in await _status_events(rt, ticket_no)][-2:] == [
        "closed",
        "archived",
    ]

    # read-only: every command a caller can send is a 409 and changes nothing
    before = await _status_events(rt, ticket_no)
    for command, payload in COMMANDS.items():
        r = await client.post(f"/v1/complaints/{ticket_no}/{command}", json=payload, headers=AGENT)
        assert r.status_code == 409, (command, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert await _status_events(rt, ticket_no) == before

    # retention: kept 3 years after archiving, then the customer's data goes
    archived_at = (await _row(rt, ticket_no)).archived_at
    assert archived_at is not None
    assert await closing.tick(rt.db, archived_at + timedelta(days=3 * 365 - 1)) == 0
    assert (await _row(rt, ticket_no)).anonymised_at is None
    assert await closing.tick(rt.db, archived_at + timedelta(days=3 * 366)) == 1
    row = await _row(rt, ticket_no)
    assert row.anonymised_at is not None
    assert "13800138000" not in row.msisdn and row.description == domain.ANONYMISED
    assert "张三" not in json.dumps(row.details, ensure_ascii=False)
    assert "zhang.san" not in json.dumps(row.details)
    body = (await client.get(f"/v1/complaints/{ticket_no}", headers=AGENT)).json()
    assert body["resolution"]["resolution"] == domain.ANONYMISED
    assert body["category"] == "network" and body["channel"] == "hotline"

    # the monthly report of its month still counts it
    month = received_month.strftime("%Y-%m")
    r = await client.get("/v1/reports/monthly", params={"month": month}, headers=MANAGER)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["complaints"] == 1
    assert report["by_status"] == {"archived": 1}
    assert report["by_category"] == {"network": 1}


async def test_a_survey_answer_closes_and_the_archive_follows_three_working_days_later(
    intake: Any,
) -> None:
    client, rt = intake
    closing = Closing(rt.settings)
    ticket_no = await _resolved(client)
    r = await client.post(
        f"/v1/complaints/{ticket_no}/feedback", json={"satisfied": True}, headers=AGENT
    )
    assert r.json()["status"] == "closed"
    closed_at = (await _row(rt, ticket_no)).closed_at
    assert closed_at is not None
    # a Friday close is archived at the end of Wednesday: weekends do not count
    friday = datetime(2026, 12, 4, 10, tzinfo=SHANGHAI)
    assert domain.archive_due(friday, 3) == datetime(2026, 12, 10, tzinfo=SHANGHAI).astimezone(UTC)
    due = domain.archive_due(closed_at, 3)
    assert await closing.tick(rt.db, due) == 1
    assert (await _row(rt, ticket_no)).status == "archived"


async def test_two_timers_running_at_once_move_each_complaint_once(intake: Any) -> None:
    client, rt = intake
    tickets = [await _resolved(client) for _ in range(3)]
    later = datetime.now(UTC) + timedelta(days=4)
    one, two = Closing(rt.settings), Closing(rt.settings)
    moved = await asyncio.gather(
        one.close_unanswered(rt.db, later), two.close_unanswered(rt.db, later)
    )
    assert sum(moved) == 3
    for ticket_no in tickets:
        closes = [e for e in await _status_events(rt, ticket_no) if e["to_status"] == "closed"]
        assert len(closes) == 1
