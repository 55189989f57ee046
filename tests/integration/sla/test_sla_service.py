"""The SLA service over a real broker and database: concrete deadlines on the Chinese
calendar, pauses, a provisional year made official, and warnings that fire exactly once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import select

from services.sla.app import create_app
from services.sla.models import platform
from services.sla.settings import SlaSettings
from shared.broker import Broker
from shared.cloudevents import Envelope
from shared.events import TicketAssigned, TicketClassified, TicketStatusChanged
from shared.service import Runtime
from tests.builders import auth, consumed, eventually, running, settings_for
from tests.builders import classified as build_classified
from tests.conftest import DbTarget
from tests.integration.platform.fixtures import send

SH = ZoneInfo("Asia/Shanghai")
Outbox = platform.models.outbox
AGENT = auth("agent")
OPS = auth("ops", sub="ops-cal")


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)  # type: ignore[misc]


def classified(ticket_no: str, received_at: datetime, **kw: Any) -> TicketClassified:
    return build_classified(ticket_no, received_at=received_at, **kw)


def status(ticket_no: str, from_: str | None, to: str, at: datetime) -> TicketStatusChanged:
    return TicketStatusChanged(
        ticket_no=ticket_no, from_status=from_, to_status=to, actor="agent", changed_at=at
    )


def _settings(db_target: DbTarget, broker: Broker, **kw: Any) -> SlaSettings:
    return settings_for(  # type: ignore[no-any-return]
        SlaSettings, db_target, broker.bootstrap, scheduler_interval_s=0.1, **kw
    )


@pytest.fixture
async def sla(
    db_target: DbTarget, broker: Broker
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    async with running(create_app(_settings(db_target, broker))) as pair:
        yield pair


async def _clocks(client: httpx.AsyncClient, ticket_no: str) -> dict[str, dict[str, Any]]:
    async def probe() -> dict[str, dict[str, Any]] | None:
        r = await client.get(f"/v1/sla/tickets/{ticket_no}", headers=AGENT)
        return {c["name"]: c for c in r.json()["clocks"]} if r.status_code == 200 else None

    return await eventually(probe)  # type: ignore[no-any-return]


def _due(clock: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(clock["due_at"]).astimezone(SH)


async def _published(rt: Runtime, type_name: str, ticket_no: str) -> list[dict[str, Any]]:
    async with rt.db.sessions() as s:
        rows = (
            await s.scalars(
                select(Outbox)
                .where(Outbox.event_type == type_name, Outbox.key == ticket_no)
                .order_by(Outbox.id)
            )
        ).all()
    return [json.loads(r.value) for r in rows]


@pytest.mark.parametrize(
    ("received", "acceptance", "first_reply", "resolution"),
    [
        # Fri 25 Sep 2026 15:00, Mid-Autumn 25-27 Sep and National Day 1-7 Oct off, Sat 10 Oct
        # a make-up working day. Working days after the 25th: 28, 29, 30 Sep, 8, 9, 10 (Sat),
        # 12 Oct = the 7th → due 13 Oct 00:00; ... 13-16, 19-23, 26-29 Oct = the 20th → 30 Oct.
        (sh(2026, 9, 25, 15), sh(2026, 9, 26, 15), sh(2026, 10, 13), sh(2026, 10, 30)),
        # Fri 13 Feb 2026 10:00, Spring Festival 15-23 Feb off, Sat 14 and Sat 28 Feb make-up
        # days: 14, 24, 25, 26, 27, 28 Feb, 2 Mar = the 7th → due 3 Mar 00:00; ... → 20 Mar.
        (sh(2026, 2, 13, 10), sh(2026, 2, 14, 10), sh(2026, 3, 3), sh(2026, 3, 20)),
    ],
)
async def test_preview_gives_the_hand_counted_deadlines(
    sla: Any, received: datetime, acceptance: datetime, first_reply: datetime, resolution: datetime
) -> None:
    client, _ = sla
    r = await client.post(
        "/v1/sla/preview", json={"received_at": received.isoformat()}, headers=AGENT
    )
    assert r.status_code == 200, r.text
    clocks = {c["name"]: c for c in r.json()["clocks"]}
    assert _due(clocks["acceptance"]) == acceptance
    assert _due(clocks["first_reply"]) == first_reply
    assert _due(clocks["resolution"]) == resolution
    assert _due(clocks["regulator"]) == received.replace(hour=0) + timedelta(days=16)
    assert not any(c["provisional"] for c in clocks.values())


async def test_major_complaints_keep_the_seed_limits_and_urgent_ones_are_accepted_in_an_hour(
    sla: Any,
) -> None:
    client, _ = sla
    body = {"received_at": sh(2026, 9, 25, 15).isoformat(), "severity": "major"}
    r = await client.post("/v1/sla/preview", json=body, headers=AGENT)
    clocks = {c["name"]: c for c in r.json()["clocks"]}
    assert clocks["acceptance"]["limit"] == {"unit": "hours", "amount": 24}
    assert clocks["first_reply"]["limit"] == {"unit": "working_days", "amount": 7}
    assert clocks["resolution"]["limit"] == {"unit": "working_days", "amount": 20}
    r = await client.post("/v1/sla/preview", json={**body, "severity": "urgent"}, headers=AGENT)
    clocks = {c["name"]: c for c in r.json()["clocks"]}
    assert clocks["acceptance"]["limit"] == {"unit": "hours", "amount": 1}
    assert clocks["resolution"]["limit"] == {"unit": "working_days", "amount": 20}
    r = await client.post(
        "/v1/sla/preview", json={"received_at": "2026-09-25T15:00:00"}, headers=AGENT
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "received_at"


async def test_a_deadline_in_2027_is_provisional_until_ops_load_the_year(
    sla: Any, producer: AIOKafkaProducer
) -> None:
    client, rt = sla
    await send(producer, Envelope(event=classified("TS-1220", sh(2026, 12, 20, 10))))
    clocks = await _clocks(client, "TS-1220")
    # 2026: 21-25, 28-31 Dec are 9 working days; provisional 2027 has only 1 Jan off:
    # 4-8, 11-15, 18 Jan → the 20th is 18 Jan → due 19 Jan 00:00
    assert _due(clocks["resolution"]) == sh(2027, 1, 19) and clocks["resolution"]["provisional"]
    assert not clocks["first_reply"]["provisional"]
    days = (
        await client.get(
            "/v1/calendar/days", params={"from": "2027-01-08", "to": "2027-01-09"}, headers=AGENT
        )
    ).json()
    assert [(d["workday"], d["source"]) for d in days] == [
        (True, "provisional"),
        (False, "provisional"),
    ]
    arrangement = {
        "holidays": [{"date": f"2027-01-0{d}", "name": "元旦"} for d in (1, 2, 3)],
        "workdays": [{"date": "2027-01-09", "name": "元旦调休"}],
    }
    r = await client.put("/v1/calendar/years/2027", json=arrangement, headers=OPS)
    assert r.status_code == 200, r.text
    assert r.json()["tickets_recomputed"] == 1
    clocks = await _clocks(client, "TS-1220")
    # with Sat 9 Jan a working day the 20th working day is Fri 15 Jan → due 16 Jan 00:00
    assert _due(clocks["resolution"]) == sh(2027, 1, 16)
    assert not clocks["resolution"]["provisional"]
    changed = await _published(rt, "SlaDeadlinesChanged", "TS-1220")
    assert changed[-1]["reason"] == "calendar:2027"
    days = (
        await client.get(
            "/v1/calendar/days", params={"from": "2027-01-08", "to": "2027-01-09"}, headers=AGENT
        )
    ).json()
    assert [(d["workday"], d["source"]) for d in days] == [(True, "official"), (True, "official")]
    audit = (await client.get("/v1/calendar/audit", headers=AGENT)).json()
    assert audit[0]["action"] == "load_year" and audit[0]["actor"] == "ops-cal"


async def test_calendar_changes_are_for_ops_and_validated(sla: Any) -> None:
    client, _ = sla
    good = {"holidays": [{"date": "2027-01-01"}]}
    assert (
        await client.put("/v1/calendar/years/2027", json=good, headers=AGENT)
    ).status_code == 403
    bad = {"holidays": [{"date": "2027-01-01"}], "workdays": [{"date": "2027-01-04"}]}
    r = await client.put("/v1/calendar/years/2027", json=bad, headers=OPS)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "workdays.0.date"
    r = await client.put(
        "/v1/calendar/days/2026-12-31", json={"workday": False, "note": "系统割接"}, headers=OPS
    )
    assert r.status_code == 200
    day = (
        await client.get(
            "/v1/calendar/days", params={"from": "2026-12-31", "to": "2026-12-31"}, headers=AGENT
        )
    ).json()
    assert day == [
        {
            "date": "2026-12-31",
            "workday": False,
            "source": "override",
            "name": None,
            "note": "系统割接",
        }
    ]


async def test_pending_pauses_and_resume_moves_the_deadline_by_the_paused_working_time(
    sla: Any, producer: AIOKafkaProducer
) -> None:
    client, rt = sla
    t = "TS-PAUSE"
    received = sh(2026, 9, 25, 15)
    await send(producer, Envelope(event=classified(t, received)))
    await _clocks(client, t)
    # paused on Mon 28 Sep 10:00 and resumed Tue 29 Sep 10:00: one working day of pause
    await send(producer, Envelope(event=status(t, "accepted", "pending", sh(2026, 9, 28, 10))))
    await send(producer, Envelope(event=status(t, "pending", "accepted", sh(2026, 9, 29, 10))))

    async def resumed() -> dict[str, Any] | None:
        clocks = await _clocks(client, t)
        return (
            clocks
            if clocks["resolution"]["pauses"] and clocks["resolution"]["pauses"][0]["resumed_at"]
            else None
        )

    clocks = await eventually(resumed)
    assert _due(clocks["first_reply"]) == sh(2026, 10, 14)
    assert _due(clocks["resolution"]) == sh(2026, 10, 31)  # Sat 31 Oct 00:00, end of Fri 30th
    changed = await _published(rt, "SlaDeadlinesChanged", t)
    assert [c["reason"] for c in changed] == ["status:pending", "status:accepted"]


async def test_an_assignment_read_before_the_classification_reaches_the_clocks(
    sla: Any, producer: AIOKafkaProducer
) -> None:
    """Routing's topic is not ordered with the ticket topic: the handler department can
    arrive before the clocks exist, and warnings and breaches must still name it."""
    client, rt = sla
    t = "TS-EARLY"
    assigned = Envelope(
        event=TicketAssigned(
            ticket_no=t,
            owner_department="frontdesk_10086",
            handler_department="billing_support",
            reason="matrix:billing",
            assigned_at=datetime.now(UTC),
        )
    )
    await send(producer, assigned)
    await eventually(lambda: consumed(rt, assigned.id))
    await send(producer, assigned)  # redelivered
    await send(producer, Envelope(event=classified(t, datetime.now(UTC) - timedelta(hours=30))))
    await _clocks(client, t)
    r = await client.get(f"/v1/sla/tickets/{t}", headers=AGENT)
    assert r.json()["handler_department"] == "billing_support"
    [breach] = await eventually(lambda: _published(rt, "SlaBreached", t))
    assert (breach["clock"], breach["handler_department"]) == ("acceptance", "billing_support")


async def test_replies_meet_clocks_and_reopen_resumes_resolution(
    sla: Any, producer: AIOKafkaProducer
) -> None:
    client, rt = sla
    t = "TS-REOPEN"
    received = datetime.now(UTC) - timedelta(hours=2)
    await send(producer, Envelope(event=classified(t, received)))
    await _clocks(client, t)
    now = datetime.now(UTC)
    for ev in (
        status(t, "received", "accepted", now),
        status(t, "accepted", "replied", now),
        status(t, "replied", "resolved", now),
        status(t, "resolved", "reopened", now + timedelta(minutes=1)),
    ):
        await send(producer, Envelope(event=ev))

    async def reopened() -> dict[str, Any] | None:
        clocks = await _clocks(client, t)
        return clocks if clocks["resolution"]["pauses"] else None

    clocks = await eventually(reopened)
    assert clocks["acceptance"]["state"] == "met" and clocks["first_reply"]["state"] == "met"
    assert clocks["resolution"]["state"] == "running" and clocks["resolution"]["met_at"] is None
    met = [e["clock"] for e in await _published(rt, "SlaMet", t)]
    assert sorted(met) == ["acceptance", "first_reply", "regulator", "resolution"]


async def test_a_warning_and_a_breach_fire_once_across_a_restart_and_two_replicas(
    db_target: DbTarget, broker: Broker, producer: AIOKafkaProducer
) -> None:
    warn, late = "TS-WARN", "TS-LATE"
    now = datetime.now(UTC)
    async with running(create_app(_settings(db_target, broker))) as (client, rt):
        await send(producer, Envelope(event=classified(warn, now - timedelta(hours=20))))
        await send(producer, Envelope(event=classified(late, now - timedelta(hours=25))))

        async def fired() -> bool:
            return bool(await _published(rt, "SlaWarning", warn)) and bool(
                await _published(rt, "SlaBreached", late)
            )

        await eventually(fired)
    # restart, now with a second replica: nothing fires again
    async with (
        running(create_app(_settings(db_target, broker))) as (client, rt),
        running(create_app(_settings(db_target, broker, consumers_enabled=False))),
    ):
        await asyncio.sleep(1.0)
        warnings = [
            w for w in await _published(rt, "SlaWarning", warn) if w["clock"] == "acceptance"
        ]
        assert len(warnings) == 1
        breaches = [
            b for b in await _published(rt, "SlaBreached", late) if b["clock"] == "acceptance"
        ]
        assert len(breaches) == 1
        listed = (await client.get("/v1/sla/breaches", headers=AGENT)).json()
        assert [(b["ticket_no"], b["name"]) for b in listed] == [(late, "acceptance")]
        risky = (
            await client.get("/v1/sla/at-risk", params={"within_hours": 6}, headers=AGENT)
        ).json()
        assert (warn, "acceptance") in [(c["ticket_no"], c["name"]) for c in risky]
        kpis = await client.get(
            "/v1/sla/kpis",
            params={
                "from": (now - timedelta(days=2)).isoformat(),
                "to": (now + timedelta(days=1)).isoformat(),
            },
            headers=AGENT,
        )
        assert kpis.status_code == 200, kpis.text
        assert kpis.json()["tickets"] == 2
