"""Same-content surges through the routing service: alerts at exactly the threshold, once,
redeliveries not double-counted, ops resolution telling every ticket, incidents absorbing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import select

from services.routing.app import create_app
from services.routing.models import SurgeCorrection, platform
from services.routing.settings import RoutingSettings
from shared.broker import Broker
from shared.cloudevents import Envelope
from shared.events import TicketClassified, TicketReceived
from shared.service import Runtime
from tests.builders import auth, eventually, running, settings_for
from tests.conftest import DbTarget
from tests.integration.platform.fixtures import send

Outbox = platform.models.outbox
AGENT = auth("agent")
OPS = auth("ops")
SH = ZoneInfo("Asia/Shanghai")
OUTAGE = [
    "天河区华景新城这两天手机完全没信号，打电话一直掉线",
    "华景新城小区信号特别差，电话打不出去，天河区这边",
    "我住天河华景新城，这两天手机一格信号都没有，通话老是断",
    "天河区华景新城附近手机没信号，打电话掉线好多次了",
]


def _settings(db_target: DbTarget, broker: Broker, **kw: Any) -> RoutingSettings:
    return settings_for(  # type: ignore[no-any-return]
        RoutingSettings, db_target, broker.bootstrap, surge_interval_s=0.1, **kw
    )


@pytest.fixture
async def routing(
    db_target: DbTarget, broker: Broker
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    async with running(create_app(_settings(db_target, broker))) as pair:
        yield pair


def _morning(minutes: int) -> datetime:
    """Inside one shift (08:00-16:00 Shanghai) today."""
    today = datetime.now(SH).date()
    return datetime(today.year, today.month, today.day, 9, tzinfo=SH) + timedelta(minutes=minutes)


async def _complain(
    producer: AIOKafkaProducer,
    ticket_no: str,
    text: str,
    at: datetime,
    *,
    twice: bool = False,
    **kw: Any,
) -> None:
    received = TicketReceived(
        ticket_no=ticket_no,
        channel="hotline",
        msisdn="+8613800138000",
        msisdn_masked="138****8000",
        description=text,
        accepting_department="frontdesk_10086",
        received_at=at,
        location="天河区",
        **kw,
    )
    classified = TicketClassified(
        ticket_no=ticket_no,
        category="network",
        confidence=0.9,
        rule="test",
        severity="normal",
        major=False,
        channel="hotline",
        accepting_department="frontdesk_10086",
        received_at=at,
        desk_id=kw.get("desk_id"),
        over_level=kw.get("over_level", False),
    )
    for envelope in (Envelope(event=received), Envelope(event=classified)):
        await send(producer, envelope)
        if twice:  # the same event delivered again
            await send(producer, envelope)


async def _alerts(rt: Runtime) -> list[dict[str, Any]]:
    async with rt.db.sessions() as s:
        rows = (
            await s.scalars(
                select(Outbox).where(Outbox.event_type == "SurgeAlertRaised").order_by(Outbox.id)
            )
        ).all()
    return [json.loads(r.value) for r in rows]


async def _cluster_of(client: httpx.AsyncClient, ticket_no: str, size: int) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        r = await client.get("/v1/surges", params={"min_count": 1}, headers=AGENT)
        for c in r.json():
            if ticket_no in c["tickets"] and c["count"] >= size:
                return c  # type: ignore[no-any-return]
        return None

    return await eventually(probe)  # type: ignore[no-any-return]


async def test_two_at_a_desk_is_quiet_the_third_in_the_shift_alerts_the_shift_leader_once(
    routing: Any, producer: AIOKafkaProducer
) -> None:
    client, rt = routing
    for i in range(2):
        await _complain(producer, f"TS-D{i}", OUTAGE[i], _morning(i), desk_id="desk-7", twice=True)
    cluster = await _cluster_of(client, "TS-D0", 2)
    assert cluster["count"] == 2  # the redelivered events were not counted again
    assert [a for a in await _alerts(rt) if a["level"] == "front_desk"] == []
    await _complain(producer, "TS-D2", OUTAGE[2], _morning(5), desk_id="desk-7")
    cluster = await _cluster_of(client, "TS-D0", 3)

    async def desk_alerts() -> list[dict[str, Any]]:
        return [a for a in await _alerts(rt) if a["level"] == "front_desk"]

    alerts = await eventually(desk_alerts)
    assert alerts[0]["notify_role"] == "shift_leader" and alerts[0]["count"] == 3
    assert sorted(alerts[0]["tickets"]) == ["TS-D0", "TS-D1", "TS-D2"]
    await _complain(producer, "TS-D3", OUTAGE[3], _morning(6), desk_id="desk-7")
    await _cluster_of(client, "TS-D0", 4)
    assert len(await desk_alerts()) == 1
    detail = (await client.get(f"/v1/surges/{cluster['id']}", headers=AGENT)).json()
    assert "front_desk" in [a["rule"] for a in detail["alerts"]]
    assert detail["departments"] == ["network_maintenance"]


async def test_resolving_a_surge_tells_every_ticket_once(
    routing: Any, producer: AIOKafkaProducer
) -> None:
    client, rt = routing
    for i, text in enumerate(OUTAGE[:3]):
        await _complain(producer, f"TS-R{i}", text, _morning(i))
    cluster = await _cluster_of(client, "TS-R0", 3)
    url = f"/v1/surges/{cluster['id']}/resolve"
    r = await client.post(url, json={"resolution": "基站已修复"}, headers=AGENT)
    assert r.status_code == 403
    r = await client.post(url, json={"resolution": "基站已修复"}, headers=OPS)
    assert r.status_code == 202

    async def resolved() -> list[dict[str, Any]]:
        async with rt.db.sessions() as s:
            rows = (
                await s.scalars(select(Outbox).where(Outbox.event_type == "SurgeResolved"))
            ).all()
        return [json.loads(r.value) for r in rows]

    events = await eventually(resolved)
    assert sorted(events[0]["tickets"]) == ["TS-R0", "TS-R1", "TS-R2"]
    r = await client.post(url, json={"resolution": "again"}, headers=OPS)
    assert r.status_code == 409
    assert len(await resolved()) == 1


async def test_more_than_three_over_level_transfers_make_every_ticket_major(
    routing: Any, producer: AIOKafkaProducer
) -> None:
    client, rt = routing
    for i, text in enumerate(OUTAGE):
        await _complain(producer, f"TS-O{i}", text, _morning(i), over_level=True)
    await _cluster_of(client, "TS-O0", 4)

    async def marked() -> set[str]:
        async with rt.db.sessions() as s:
            rows = (
                await s.scalars(select(Outbox).where(Outbox.event_type == "TicketMarkedMajor"))
            ).all()
        return {json.loads(r.value)["ticket_no"] for r in rows}

    assert await eventually(marked) == {"TS-O0", "TS-O1", "TS-O2", "TS-O3"}


async def test_an_incident_absorbs_matching_complaints_and_merge_validates(
    routing: Any, producer: AIOKafkaProducer
) -> None:
    client, _ = routing
    r = await client.post(
        "/v1/incidents",
        json={
            "title": "天河光缆中断",
            "category": "network",
            "area": "天河",
            "keywords": ["信号", "断网"],
        },
        headers=OPS,
    )
    assert r.status_code == 201
    await _complain(producer, "TS-I0", OUTAGE[0], _morning(0))
    await _complain(producer, "TS-I1", "天河这边家里宽带断网了，一直连不上", _morning(1))
    cluster = await _cluster_of(client, "TS-I0", 2)
    assert set(cluster["tickets"]) == {"TS-I0", "TS-I1"}
    incidents = (await client.get("/v1/incidents", headers=AGENT)).json()
    assert incidents[0]["cluster_id"] == cluster["id"]
    detail = (await client.get(f"/v1/surges/{cluster['id']}", headers=AGENT)).json()
    assert detail["incident_id"] == r.json()["id"]
    bad = await client.post(
        f"/v1/surges/{cluster['id']}/merge", json={"other": "S-nope"}, headers=OPS
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "other"
    bad = await client.post(
        f"/v1/surges/{cluster['id']}/split", json={"tickets": ["TS-X"]}, headers=OPS
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "tickets"


async def test_a_cluster_shows_why_each_member_joined_and_an_ops_merge_becomes_an_alias_row(
    routing: Any, producer: AIOKafkaProducer
) -> None:
    client, _ = routing
    await _complain(producer, "TS-E0", "岗顶这边手机没有信号", _morning(0))
    await _complain(producer, "TS-E1", "岗顶附近手机一格信号都没，打不出电话", _morning(1))
    await _complain(producer, "TS-E2", "石牌桥地铁站附近手机无服务", _morning(2))
    cluster = await _cluster_of(client, "TS-E1", 2)
    other = await _cluster_of(client, "TS-E2", 1)
    assert other["id"] != cluster["id"]  # two names the gazetteer does not know are one place
    detail = (await client.get(f"/v1/surges/{cluster['id']}", headers=AGENT)).json()
    # which of the two arrives first is up to the broker's partitions: it has no reasons
    first, second = sorted(detail["members"], key=lambda m: len(m["reasons"]))
    assert first == {
        "ticket_no": first["ticket_no"], "reasons": [], "place": None, "symptom": None,
        "product": None, "similarity": None, "by_ops": None,
    }  # fmt: skip
    assert {first["ticket_no"], second["ticket_no"]} == {"TS-E0", "TS-E1"}
    assert second["place"] == "岗顶"
    assert second["symptom"] == "coverage" and 0 <= second["similarity"] <= 1
    assert detail["reasons"]["place:岗顶"] == 1
    listed = (await client.get("/v1/surges", params={"min_count": 2}, headers=AGENT)).json()
    assert next(c for c in listed if c["id"] == cluster["id"])["members"] == detail["members"]

    r = await client.post(
        f"/v1/surges/{cluster['id']}/merge", json={"other": other["id"]}, headers=OPS
    )
    assert r.status_code == 202

    async def taught() -> list[dict[str, Any]] | None:
        rows = (await client.get("/v1/surges/corrections", headers=AGENT)).json()
        return rows or None  # type: ignore[no-any-return]

    (row,) = await eventually(taught)
    assert (row["kind"], row["name"], row["value"]) == ("alias", "p:石牌桥地铁站", "p:岗顶")
    assert row["tsv"] == "石牌桥地铁站\t岗顶\tplace" and row["cluster_id"] == cluster["id"]
    # the next complaint naming the other place joins the merged cluster
    await _complain(producer, "TS-E3", "石牌桥地铁站出口打不出电话，一格信号都没", _morning(3))
    merged = await _cluster_of(client, "TS-E3", 4)
    assert merged["id"] == cluster["id"]
    members = {m["ticket_no"]: m for m in merged["members"]}
    assert members["TS-E2"]["by_ops"] == "merge" and members["TS-E3"]["place"] == "岗顶"


async def test_a_restarted_worker_applies_the_corrections_kept_in_the_database(
    db_target: DbTarget, broker: Broker, producer: AIOKafkaProducer
) -> None:
    settings = _settings(db_target, broker, surge_lease_s=0.5)
    async with running(create_app(settings)) as (_, rt), rt.db.uow() as uow:
        # taught by a merge long ago, outside the window
        uow.session.add(
            SurgeCorrection(kind="alias", name="p:石牌桥地铁站", value="p:岗顶", cluster_id="S-old")
        )
        await uow.commit()
    async with running(create_app(settings)) as (client, _):
        await _complain(producer, "TS-C0", "岗顶这边手机没有信号", _morning(0))
        await _complain(producer, "TS-C1", "石牌桥地铁站附近手机无服务", _morning(1))
        cluster = await _cluster_of(client, "TS-C1", 2)
        assert set(cluster["tickets"]) == {"TS-C0", "TS-C1"}
        assert "岗顶" in [m["place"] for m in cluster["members"]]


async def test_one_worker_across_two_replicas_and_a_restart(
    db_target: DbTarget, broker: Broker, producer: AIOKafkaProducer
) -> None:
    async with (
        running(create_app(_settings(db_target, broker))) as (client, rt),
        running(create_app(_settings(db_target, broker, consumers_enabled=False))),
    ):
        for i, text in enumerate(OUTAGE[:3]):
            await _complain(producer, f"TS-W{i}", text, _morning(i), desk_id="desk-9")
        await _cluster_of(client, "TS-W0", 3)
    async with running(create_app(_settings(db_target, broker, surge_lease_s=0.5))) as (client, rt):
        await _complain(producer, "TS-W3", OUTAGE[3], _morning(7), desk_id="desk-9")
        cluster = await _cluster_of(client, "TS-W0", 4)
        assert cluster["count"] == 4  # rebuilt from the log: the restart lost nothing
        desk = [a for a in await _alerts(rt) if a["level"] == "front_desk"]
        assert len(desk) == 1
