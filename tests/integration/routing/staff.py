"""Helpers for the routing tests that follow surges to the people they alert."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from sqlalchemy import select

from services.routing.models import platform
from services.routing.staff_alerts import parse_shift_starts, shift_of
from shared.cloudevents import Envelope
from shared.db import utcnow
from shared.events import TicketClassified, TicketReceived
from shared.service import Runtime
from tests.builders import auth, eventually
from tests.integration.platform.fixtures import send

Outbox = platform.models.outbox
AGENT, OPS = auth("agent"), auth("ops")
STARTS = parse_shift_starts("08:00,20:00")
OUTAGE = [
    "天河区华景新城这两天手机完全没信号，打电话一直掉线",
    "华景新城小区信号特别差，电话打不出去，天河区这边",
    "我住天河华景新城，这两天手机一格信号都没有，通话老是断",
    "天河区华景新城附近手机没信号，打电话掉线好多次了",
    "天河华景新城手机没有信号，电话总是掉线，麻烦处理",
]
DAY_LEADER = {"name": "王芳", "email": "wangfang@10086.example", "mobile": "13900139001"}
NIGHT_LEADER = {"name": "李强", "email": "liqiang@10086.example", "mobile": "13900139002"}
DUTY = {"name": "网络维护部值班台", "email": "noc-duty@10086.example"}
MANAGER = {"name": "陈刚", "email": "chengang@10086.example", "mobile": "13900139003"}


def in_one_shift(ago: timedelta) -> datetime:
    """A moment `ago` back whose next ten minutes stay inside one shift."""
    at = utcnow() - ago
    if shift_of(at, STARTS, "Asia/Shanghai") != shift_of(
        at + timedelta(minutes=10), STARTS, "Asia/Shanghai"
    ):
        at -= timedelta(minutes=15)
    return at


async def complain(producer: AIOKafkaProducer, ticket_no: str, text: str, at: datetime) -> None:
    common = {"ticket_no": ticket_no, "accepting_department": "frontdesk_10086", "received_at": at}
    received = TicketReceived(
        **common,
        channel="hotline",
        msisdn="+8613800138000",
        msisdn_masked="138****8000",
        description=text,
        location="天河区",
        desk_id="desk-7",
    )
    classified = TicketClassified(
        **common,
        category="network",
        confidence=0.9,
        rule="test",
        severity="normal",
        major=False,
        channel="hotline",
        desk_id="desk-7",
    )
    for envelope in (Envelope(event=received), Envelope(event=classified)):
        await send(producer, envelope)


async def directory(client: httpx.AsyncClient) -> None:
    for path, holders in (
        (
            "shift_leader/desk-7",
            [{**DAY_LEADER, "shift": "08:00"}, {**NIGHT_LEADER, "shift": "20:00"}],
        ),
        ("department_contact/network_maintenance", [DUTY]),
        ("department_manager/network_maintenance", [MANAGER]),
    ):
        r = await client.put(f"/v1/staff-directory/{path}", json={"holders": holders}, headers=OPS)
        assert r.status_code == 200, r.text


async def staff_alerts(rt: Runtime, kind: str | None = None) -> list[dict[str, Any]]:
    async with rt.db.sessions() as s:
        rows = (
            await s.scalars(
                select(Outbox).where(Outbox.event_type == "StaffAlertRaised").order_by(Outbox.id)
            )
        ).all()
    alerts = [json.loads(r.value) for r in rows]
    return [a for a in alerts if kind is None or a["kind"] == kind]


async def cluster_of(client: httpx.AsyncClient, ticket_no: str, size: int) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        r = await client.get("/v1/surges", params={"min_count": 1}, headers=AGENT)
        for c in r.json():
            if ticket_no in c["tickets"] and c["count"] >= size:
                return c  # type: ignore[no-any-return]
        return None

    return await eventually(probe)  # type: ignore[no-any-return]
