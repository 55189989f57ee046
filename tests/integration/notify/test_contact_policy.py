"""When customer SMS go out: quiet hours, the rate limit, opt-outs, gateway errors and a
crash mid-send (the dispatcher's clock is a manual one here; its timers are off)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from services.notify.clock import ManualClock
from services.notify.models import Notification
from services.notify.sms.sink import SmppSink
from tests.builders import auth
from tests.conftest import DbTarget
from tests.integration.notify import events as ev
from tests.integration.notify.conftest import OPS, NotifyFactory

SH = ZoneInfo("Asia/Shanghai")


def next_local(hour: int, minute: int = 0) -> datetime:
    """The next such wall-clock time in Shanghai after a day from now (always in the future)."""
    tomorrow = datetime.now(SH) + timedelta(days=1)
    return tomorrow.replace(hour=hour, minute=minute, second=0, microsecond=0).astimezone(UTC)


def _rate_limited(notify_app: NotifyFactory, clock: ManualClock, count: int) -> Any:
    """Notify on a manual clock, its timers off, allowing `count` SMS per customer per hour."""
    return notify_app(scheduler_enabled=False, app_kw={"clock": clock}, sms_rate_limit_count=count)


def _statuses(items: list[dict[str, object]]) -> dict[object, object]:
    """Template -> status, a delivered SMS counted as sent (its receipt may come first)."""
    return {n["template"]: "sent" if n["status"] == "delivered" else n["status"] for n in items}


async def test_quiet_hours_hold_customer_sms_until_the_window_opens(
    notify_app: NotifyFactory, smsc: SmppSink
) -> None:
    clock = ManualClock(next_local(23))
    quiet = {"quiet_hours_start": time(22), "quiet_hours_end": time(8)}
    async with notify_app(scheduler_enabled=False, app_kw={"clock": clock}, **quiet) as notify:
        await notify.apply(ev.received("QH-1"), ev.status("QH-1", "accepted"))
        urgent = ev.classified("QH-2", "urgent")
        await notify.apply(ev.received("QH-2", msisdn="13900139000"), urgent)
        await notify.tick()
        items = await notify.notifications("QH-1")
        # A letter or web complaint does not wake the customer at 23:00: all waits for 08:00.
        assert _statuses(items) == {"ticket_registered": "pending", "ticket_accepted": "pending"}
        # An urgent (conflict/safety) complaint's registration goes out at once.
        assert _statuses(await notify.notifications("QH-2")) == {"ticket_registered": "sent"}
        waiting = next(n for n in items if n["template"] == "ticket_accepted")
        opens = datetime.fromisoformat(waiting["send_after"]).astimezone(SH)
        assert (opens.hour, opens.minute) == (8, 0) and waiting["last_error"] == "quiet hours"
        clock.at = opens.astimezone(UTC) - timedelta(minutes=1)
        assert await notify.tick() == 0
        clock.at = opens.astimezone(UTC)
        await notify.tick()
        assert _statuses(await notify.notifications("QH-1")) == {
            "ticket_registered": "sent",
            "ticket_accepted": "sent",
        }
        assert len(smsc.messages) == 3


async def test_a_customer_gets_at_most_the_rate_limit_per_window(
    notify_app: NotifyFactory, smsc: SmppSink
) -> None:
    clock = ManualClock(next_local(10))
    async with _rate_limited(notify_app, clock, 2) as notify:
        await notify.apply(
            ev.received("RL-1"),
            ev.status("RL-1", "accepted"),
            ev.status("RL-1", "replied"),
            ev.status("RL-1", "resolved"),
        )
        await notify.tick()
        assert len(smsc.messages) == 2
        held = [n for n in await notify.notifications("RL-1") if n["status"] == "pending"]
        assert {n["last_error"] for n in held} == {"rate limit"}
        clock.advance(minutes=59)
        await notify.tick()
        assert len(smsc.messages) == 2
        clock.advance(minutes=1)
        await notify.tick()
        assert len(smsc.messages) == 4


async def test_sms_another_replica_is_sending_count_against_the_rate_limit(
    notify_app: NotifyFactory, smsc: SmppSink
) -> None:
    clock = ManualClock(next_local(10))
    async with _rate_limited(notify_app, clock, 2) as notify:
        await notify.apply(ev.received("RL-2"))
        async with notify.rt.db.sessions() as s:
            [first] = list((await s.scalars(select(Notification.id))).all())
        # Another replica has claimed the registration SMS and is sending it right now.
        assert len(await notify.parts.dispatcher._claim([first], clock.now())) == 1
        await notify.apply(ev.status("RL-2", "accepted"), ev.status("RL-2", "replied"))
        await notify.tick()
        assert len(smsc.pdus) == 1  # one in flight + one sent = the limit of 2
        statuses = _statuses(await notify.notifications("RL-2"))
        assert statuses["ticket_first_reply"] == "pending"


async def test_two_replicas_claiming_at_once_keep_to_the_rate_limit(
    notify_app: NotifyFactory, smsc: SmppSink, db_target: DbTarget
) -> None:
    if db_target.kind != "postgresql":
        pytest.skip("SQLite runs one dispatcher (documented)")
    clock = ManualClock(next_local(10))
    async with (
        _rate_limited(notify_app, clock, 3) as a,
        _rate_limited(notify_app, clock, 3) as b,
    ):
        tickets = [f"RL-{n}" for n in range(3, 9)]  # one customer, six tickets
        await a.apply(*(ev.received(t) for t in tickets))
        async with a.rt.db.uow() as uow:  # the complaint numbers went out long ago
            await uow.session.execute(update(Notification).values(status="sent"))
            await uow.commit()
        await a.apply(*(ev.status(t, "accepted") for t in tickets))
        accepted = select(Notification.id).where(Notification.template == "ticket_accepted")
        async with a.rt.db.sessions() as s:
            ids = list((await s.scalars(accepted.order_by(Notification.id))).all())
        # Each replica read a different slice of the due rows before either claimed.
        won = await asyncio.gather(
            a.parts.dispatcher._claim(ids[:3], clock.now()),
            b.parts.dispatcher._claim(ids[3:], clock.now()),
        )
        assert sum(len(w) for w in won) == 3


async def test_opt_out_suppresses_optional_sms_but_not_the_complaint_number(
    notify_app: NotifyFactory, smsc: SmppSink
) -> None:
    async with notify_app(scheduler_enabled=False) as notify:
        c = notify.client
        body = {"msisdn": "138 0013 8000", "reason": "客户要求"}
        assert (await c.post("/v1/notifications/opt-outs", json=body)).status_code == 401
        r = await c.post("/v1/notifications/opt-outs", json=body, headers=auth("agent"))
        assert r.status_code == 403
        r = await c.post("/v1/notifications/opt-outs", json={"msisdn": "12345"}, headers=OPS)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "msisdn"
        r = await c.post("/v1/notifications/opt-outs", json=body, headers=OPS)
        assert r.status_code == 201 and r.json()["msisdn"] == "138****8000"
        r = await c.post("/v1/notifications/opt-outs", json=body, headers=OPS)
        assert r.status_code == 200
        listed = (await c.get("/v1/notifications/opt-outs", headers=OPS)).json()
        assert [o["msisdn"] for o in listed] == ["138****8000"]

        await notify.apply(ev.received("OO-1"), ev.clocks("OO-1"), ev.status("OO-1", "accepted"))
        await notify.tick()
        statuses = _statuses(await notify.notifications("OO-1"))
        assert statuses == {"ticket_registered": "sent", "ticket_accepted": "suppressed"}
        assert len(smsc.messages) == 1

        url = "/v1/notifications/opt-outs/13800138000"
        assert (await c.delete(url, headers=OPS)).status_code == 204
        assert (await c.delete(url, headers=OPS)).status_code == 404


async def test_gateway_refusals_retry_only_what_cannot_have_been_sent(
    notify_app: NotifyFactory, smsc: SmppSink
) -> None:
    clock = ManualClock(next_local(10))
    async with notify_app(scheduler_enabled=False, app_kw={"clock": clock}) as notify:
        smsc.reject_status = 0x58  # ESME_RTHROTTLED: not taken, try later
        await notify.apply(ev.received("GW-1"))
        await notify.tick()
        [n] = await notify.notifications("GW-1")
        assert (n["status"], n["attempts"]) == ("pending", 1) and "0x00000058" in n["last_error"]
        smsc.reject_status = None
        clock.advance(seconds=5)
        await notify.tick()
        [n] = await notify.notifications("GW-1")
        assert (n["status"], n["attempts"]) == ("sent", 2) and n["provider_message_id"], str(n)

        smsc.reject_status = 0x0B  # ESME_RINVDSTADR: never going to work
        await notify.apply(ev.received("GW-2"))
        await notify.tick()
        by_template = {x["template"]: x for x in await notify.notifications("GW-2")}
        n = by_template["ticket_registered"]
        assert (n["status"], n["attempts"]) == ("failed", 1)
        # The registration SMS is required: its failure is not quiet, ops get an e-mail.
        alert = by_template["delivery_alert"]
        assert alert["subject"] == "【发送异常】投诉GW-2的投诉登记短信发送失败"
