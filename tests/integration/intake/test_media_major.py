"""A complaint the media brought is major at intake (seed 004 §3.3 criterion 1: 媒体介入),
not only over-level, so routing supervises it and SLA plans it as major from the start."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from services.intake.models import platform
from tests.builders import auth, complaint


async def test_a_media_channel_complaint_is_major_and_over_level(intake: Any) -> None:
    client, rt = intake
    body = complaint(channel="media", description="记者来电反映天河区华景新城小区手机长期没有信号")
    r = await client.post("/v1/complaints", json=body, headers=auth("agent"))
    assert r.status_code == 201, r.text
    ticket = r.json()
    assert ticket["severity"] == "major" and ticket["major"] is True
    assert "media_involved" in ticket["major_reasons"] and ticket["over_level"] is True
    hotline = await client.post("/v1/complaints", json=complaint(), headers=auth("agent"))
    assert hotline.json()["severity"] == "normal"
    async with rt.db.sessions() as s:
        rows = (
            await s.scalars(
                select(platform.models.outbox).where(
                    platform.models.outbox.event_type == "TicketClassified"
                )
            )
        ).all()
    majors = {json.loads(r.value)["ticket_no"]: json.loads(r.value)["major"] for r in rows}
    assert majors == {ticket["ticket_no"]: True, hotline.json()["ticket_no"]: False}
