"""Sends whose outcome is unknown (the sender died mid-send, the SMSC never answered the
submit) are not dropped quietly: the registration SMS is sent again a bounded number of
times, and then ops are alerted; an optional SMS is not repeated but recorded as unknown."""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY
from sqlalchemy import select

from services.notify.clock import ManualClock
from services.notify.models import Notification
from services.notify.sms.sink import SmppSink
from tests.integration.notify import events as ev
from tests.integration.notify.conftest import NotifyFactory, NotifyUnderTest
from tests.integration.notify.test_contact_policy import next_local


def _alerts(channel: str, outcome: str) -> float:
    labels = {"channel": channel, "outcome": outcome}
    return REGISTRY.get_sample_value("notify_delivery_alerts_total", labels) or 0.0


async def _by_template(notify: NotifyUnderTest, ticket_no: str) -> dict[str, dict[str, Any]]:
    return {n["template"]: n for n in await notify.notifications(ticket_no)}


async def _die_mid_send(notify: NotifyUnderTest, clock: ManualClock, template: str) -> None:
    """A replica claims the row, then dies before it writes the outcome."""
    async with notify.rt.db.sessions() as s:
        ids = list(
            await s.scalars(select(Notification.id).where(Notification.template == template))
        )
    assert len(await notify.parts.dispatcher._claim(ids, clock.now())) == 1


async def test_a_registration_interrupted_mid_send_is_sent_again_once(
    notify_app: NotifyFactory, smsc: SmppSink
) -> None:
    clock = ManualClock(next_local(10))
    async with notify_app(scheduler_enabled=False, app_kw={"clock": clock}) as notify:
        s = notify.parts.settings
        await notify.apply(ev.received("UN-1"), ev.clocks("UN-1"))
        await _die_mid_send(notify, clock, "ticket_registered")
        clock.advance(seconds=s.send_lease_s + 1)
        await notify.tick()
        n = (await _by_template(notify, "UN-1"))["ticket_registered"]
        assert n["status"] == "pending" and "sending again" in n["last_error"]
        assert smsc.pdus == []  # not yet: a late answer may still settle it

        clock.advance(seconds=s.uncertain_resend_delay_s)
        await notify.tick()
        n = (await _by_template(notify, "UN-1"))["ticket_registered"]
        assert n["status"] in ("sent", "delivered") and n["attempts"] == 2
        assert [text for _, text in smsc.messages] == [n["body"]]


async def test_an_optional_sms_interrupted_mid_send_is_recorded_unknown_not_repeated(
    notify_app: NotifyFactory, smsc: SmppSink
) -> None:
    clock = ManualClock(next_local(10))
    async with notify_app(scheduler_enabled=False, app_kw={"clock": clock}) as notify:
        await notify.apply(ev.received("UN-2"), ev.clocks("UN-2"))
        await notify.tick()
        await notify.apply(ev.status("UN-2", "accepted"))
        await _die_mid_send(notify, clock, "ticket_accepted")
        clock.advance(seconds=notify.parts.settings.send_lease_s + 1)
        await notify.tick()
        n = (await _by_template(notify, "UN-2"))["ticket_accepted"]
        assert n["status"] == "unknown" and "not sent again" in n["last_error"]
        assert len(smsc.messages) == 1  # the registration only


async def test_a_registration_the_smsc_never_answers_is_retried_then_ops_are_alerted(
    notify_app: NotifyFactory, smsc: SmppSink
) -> None:
    clock = ManualClock(next_local(10))
    before = _alerts("sms", "unknown")
    smsc.response_delay_s = 1.0  # the SMSC takes the submit but answers too late
    async with notify_app(
        scheduler_enabled=False, app_kw={"clock": clock}, smpp_submit_timeout_s=0.3
    ) as notify:
        s = notify.parts.settings
        await notify.apply(ev.received("UN-3"), ev.clocks("UN-3"))
        await notify.tick()
        n = (await _by_template(notify, "UN-3"))["ticket_registered"]
        assert n["status"] == "pending" and "no submit_sm_resp" in n["last_error"]

        clock.advance(seconds=s.uncertain_resend_delay_s)
        await notify.tick()  # the one re-send (uncertain_resend_max=1) times out as well
        found = await _by_template(notify, "UN-3")
        n = found["ticket_registered"]
        assert (n["status"], n["attempts"]) == ("unknown", 2)
        alert = found["delivery_alert"]
        assert alert["recipient"].endswith("@complaints.10086.example")
        assert alert["subject"] == "【发送异常】投诉UN-3的投诉登记短信发送结果不明"
        assert "已重发1次" in alert["body"] and "138****8000" in alert["body"]
        assert _alerts("sms", "unknown") == before + 1
        clock.advance(seconds=s.uncertain_resend_delay_s * 10)
        await notify.tick()
        assert (await _by_template(notify, "UN-3"))["ticket_registered"]["attempts"] == 2
