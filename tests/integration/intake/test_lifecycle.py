"""The complaint lifecycle over HTTP: every legal path, every illegal transition, the record."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import pytest
from sqlalchemy import select

from services.intake.lifecycle import SYSTEM_COMMANDS, TRANSITIONS
from services.intake.models import platform
from shared.events import TicketClassified, TicketNoteAdded, TicketStatusChanged
from tests.builders import auth, complaint

Outbox = platform.models.outbox
AGENT = auth("agent", sub="agent-7")

BODIES: dict[str, dict[str, Any]] = {
    "accept": {},
    "start": {},
    "reply": {"message": "已安排网络工程师核查您所在小区的基站"},
    "hold": {"reason": "等待客户提供故障发生的具体地址"},
    "resume": {},
    "resolve": {"resolution": "基站故障已修复，信号恢复正常", "responsibility": "company"},
    "feedback": {"satisfied": True, "score": 5},
    "cancel": {"reason": "客户撤诉"},
}
# the commands that bring a new complaint to each status
PATHS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "received": [],
    "accepted": [("accept", {})],
    "in_progress": [("accept", {}), ("start", {})],
    "replied": [("accept", {}), ("start", {}), ("reply", BODIES["reply"])],
    "pending": [("accept", {}), ("hold", BODIES["hold"])],
    "resolved": [("accept", {}), ("start", {}), ("resolve", BODIES["resolve"])],
    "closed": [("accept", {}), ("start", {}), ("resolve", BODIES["resolve"]), ("feedback", {})],
    "reopened": [
        ("accept", {}),
        ("start", {}),
        ("resolve", BODIES["resolve"]),
        ("feedback", {"satisfied": False, "score": 1, "comment": "信号还是很差"}),
    ],
    "cancelled": [("cancel", BODIES["cancel"])],
}
PATHS["closed"][-1] = ("feedback", BODIES["feedback"])
# what callers may send (the system's own close/archive are not routes); `archived` is
# reached by the timers (tests/integration/intake/test_ticket_finishes.py)
API = {c: moves for c, moves in TRANSITIONS.items() if c not in SYSTEM_COMMANDS}


async def _new(client: Any, **overrides: Any) -> str:
    r = await client.post("/v1/complaints", json=complaint(**overrides), headers=AGENT)
    assert r.status_code == 201, r.text
    return str(r.json()["ticket_no"])


async def _do(client: Any, ticket_no: str, command: str, body: dict[str, Any]) -> Any:
    return await client.post(f"/v1/complaints/{ticket_no}/{command}", json=body, headers=AGENT)


async def _bring_to(client: Any, status: str) -> str:
    ticket_no = await _new(client)
    for command, body in PATHS[status]:
        r = await _do(client, ticket_no, command, body)
        assert r.status_code == 200, r.text
    return ticket_no


async def _events(rt: Any, ticket_no: str, type_: type) -> list[dict[str, Any]]:
    async with rt.db.sessions() as s:
        rows = (
            await s.scalars(
                select(Outbox)
                .where(Outbox.key == ticket_no, Outbox.event_type == type_.__name__)
                .order_by(Outbox.id)
            )
        ).all()
    return [json.loads(r.value) for r in rows]


async def test_the_happy_path_records_every_change_with_actor_and_publishes_it(
    intake: Any,
) -> None:
    client, rt = intake
    ticket_no = await _bring_to(client, "closed")
    r = await client.get(f"/v1/complaints/{ticket_no}", headers=AGENT)
    body = r.json()
    assert body["status"] == "closed"
    history = [(h["from_status"], h["to_status"]) for h in body["status_history"]]
    assert history == [
        (None, "received"),
        ("received", "accepted"),
        ("accepted", "in_progress"),
        ("in_progress", "resolved"),
        ("resolved", "closed"),
    ]
    assert {h["actor"] for h in body["status_history"]} == {"agent-7"}
    assert body["resolution"]["responsibility"] == "company"
    assert body["feedback"]["score"] == 5
    assert body["allowed_commands"] == []
    published = await _events(rt, ticket_no, TicketStatusChanged)
    assert [e["to_status"] for e in published] == [
        "received",
        "accepted",
        "in_progress",
        "resolved",
        "closed",
    ]


@pytest.mark.parametrize("status", PATHS)
async def test_every_illegal_transition_is_409_naming_what_is_allowed_and_changes_nothing(
    intake: Any, status: str
) -> None:
    client, rt = intake
    ticket_no = await _bring_to(client, status)
    before = await _events(rt, ticket_no, TicketStatusChanged)
    illegal = [c for c, moves in API.items() if status not in moves]
    assert illegal, "every status forbids something"
    for command in illegal:
        r = await _do(client, ticket_no, command, BODIES[command])
        assert r.status_code == 409, (command, r.text)
        problem = r.json()
        assert r.headers["content-type"].startswith("application/problem+json")
        assert problem["status_now"] == status
        assert set(problem["allowed"]) == {c for c, m in API.items() if status in m}
    assert await _events(rt, ticket_no, TicketStatusChanged) == before
    r = await client.get(f"/v1/complaints/{ticket_no}", headers=AGENT)
    assert r.json()["status"] == status


async def test_hold_pauses_and_resume_returns_to_where_it_was(intake: Any) -> None:
    client, _ = intake
    ticket_no = await _bring_to(client, "replied")
    r = await _do(client, ticket_no, "hold", BODIES["hold"])
    assert r.json()["status"] == "pending"
    r = await _do(client, ticket_no, "resume", {})
    assert r.json()["status"] == "replied"
    assert r.json()["status_history"][-2]["reason"] == BODIES["hold"]["reason"]


async def test_dissatisfied_feedback_reopens_and_the_complaint_is_handled_again(
    intake: Any,
) -> None:
    client, rt = intake
    ticket_no = await _bring_to(client, "reopened")
    r = await client.get(f"/v1/complaints/{ticket_no}", headers=AGENT)
    assert r.json()["reopen_count"] == 1
    assert r.json()["allowed_commands"] == ["start", "reply", "hold", "resolve", "cancel"]
    for command, body in [
        ("start", {}),
        ("resolve", BODIES["resolve"]),
        ("feedback", BODIES["feedback"]),
    ]:
        assert (await _do(client, ticket_no, command, body)).status_code == 200
    changes = await _events(rt, ticket_no, TicketStatusChanged)
    assert changes[-4]["to_status"] == "reopened" and changes[-4]["satisfied"] is False
    assert changes[-1]["to_status"] == "closed" and changes[-1]["satisfied"] is True


@pytest.mark.parametrize(
    ("command", "body", "field"),
    [
        ("reply", {}, "message"),
        ("hold", {"reason": ""}, "reason"),
        ("resolve", {"resolution": "好了"}, "responsibility"),
        ("resolve", {"resolution": "好了", "responsibility": "nobody"}, "responsibility"),
        ("feedback", {"satisfied": True, "score": 6}, "score"),
        ("cancel", {}, "reason"),
    ],
)
async def test_command_bodies_are_validated_naming_the_field(
    intake: Any, command: str, body: dict[str, Any], field: str
) -> None:
    client, _ = intake
    ticket_no = await _bring_to(client, "in_progress" if command != "feedback" else "resolved")
    r = await _do(client, ticket_no, command, body)
    assert r.status_code == 422
    assert field in {e["field"].split(".")[-1] for e in r.json()["errors"]}


async def test_unknown_ticket_is_404_and_roles_are_enforced(intake: Any) -> None:
    client, _ = intake
    r = await client.post("/v1/complaints/TS0000000000000/accept", json={}, headers=AGENT)
    assert r.status_code == 404
    ticket_no = await _new(client)
    r = await client.post(f"/v1/complaints/{ticket_no}/accept", json={}, headers=auth("billing"))
    assert r.status_code == 403
    r = await client.post(f"/v1/complaints/{ticket_no}/accept", json={})
    assert r.status_code == 401


async def test_notes_are_append_only_and_published(intake: Any) -> None:
    client, rt = intake
    ticket_no = await _new(client)
    for text in ("客户要求下午回电", "已联系网络部"):
        r = await client.post(
            f"/v1/complaints/{ticket_no}/notes", json={"text": text}, headers=AGENT
        )
        assert r.status_code == 201
    notes = r.json()["notes"]
    assert [n["text"] for n in notes] == ["客户要求下午回电", "已联系网络部"]
    assert all(n["author"] == "agent-7" for n in notes)
    assert len(await _events(rt, ticket_no, TicketNoteAdded)) == 2
    for method in ("put", "patch", "delete"):
        r = await client.request(method, f"/v1/complaints/{ticket_no}/notes", headers=AGENT)
        assert r.status_code == 405


async def test_reclassification_records_who_and_why_and_publishes(intake: Any) -> None:
    client, rt = intake
    ticket_no = await _new(client)
    r = await client.post(
        f"/v1/complaints/{ticket_no}/reclassify",
        json={"category": "device", "reason": "手机天线故障，非网络问题"},
        headers=AGENT,
    )
    assert r.status_code == 200, r.text
    assert r.json()["category"] == "device"
    entry = r.json()["timeline"][-1]
    assert entry["kind"] == "reclassified" and entry["actor"] == "agent-7"
    assert entry["detail"] == {
        "from": "network",
        "to": "device",
        "reason": "手机天线故障，非网络问题",
    }
    classified = await _events(rt, ticket_no, TicketClassified)
    assert [c["category"] for c in classified] == ["network", "device"]
    assert classified[-1]["classified_by"] == "agent-7"


async def test_two_simultaneous_commands_on_one_complaint_apply_one(intake: Any) -> None:
    client, rt = intake
    ticket_no = await _bring_to(client, "accepted")
    results = await asyncio.gather(
        _do(client, ticket_no, "start", {}),
        _do(client, ticket_no, "cancel", BODIES["cancel"]),
        _do(client, ticket_no, "hold", BODIES["hold"]),
    )
    codes = sorted(r.status_code for r in results)
    assert codes.count(200) >= 1 and set(codes) <= {200, 409}
    changes = await _events(rt, ticket_no, TicketStatusChanged)
    # every published change starts where the previous one ended: no lost update
    for before, after in itertools.pairwise(changes):
        assert after["from_status"] == before["to_status"]
    assert len(changes) == 2 + codes.count(200)


async def test_listing_filters_by_status_department_and_received_range(intake: Any) -> None:
    client, _ = intake
    first = await _new(client)
    await _bring_to(client, "accepted")
    r = await client.get("/v1/complaints", params={"status": "accepted"}, headers=AGENT)
    assert [c["status"] for c in r.json()["items"]] == ["accepted"]
    r = await client.get("/v1/complaints", params={"department": "frontdesk_10086"}, headers=AGENT)
    assert r.json()["items"] == []  # not assigned yet: routing's event has not arrived
    r = await client.get(
        "/v1/complaints",
        params={
            "received_from": "2000-01-01T00:00:00+08:00",
            "received_to": "2000-01-02T00:00:00+08:00",
        },
        headers=AGENT,
    )
    assert r.json()["items"] == []
    r = await client.get(
        "/v1/complaints", params={"received_from": "2000-01-01T00:00:00"}, headers=AGENT
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "received_from"
    r = await client.get("/v1/complaints", params={"status": "lost"}, headers=AGENT)
    assert r.status_code == 422
    assert first
