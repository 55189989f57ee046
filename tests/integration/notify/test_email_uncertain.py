"""E-mail whose SMTP DATA went out but whose answer never came (the server may have queued
it) is never sent again without a record: the Message-ID is recorded before the first send,
a re-send carries the same one, and without re-sends the outcome is `unknown` and ops hear
of it. Against a real aiosmtpd server that takes the message and answers too late."""

from __future__ import annotations

from typing import Any

from services.notify.clock import ManualClock
from tests.builders import eventually
from tests.integration.notify import events as ev
from tests.integration.notify.conftest import Mailbox, NotifyFactory, NotifyUnderTest
from tests.integration.notify.test_contact_policy import next_local

FRONTDESK = "frontdesk-10086@complaints.10086.example"
OPS = "ops@complaints.10086.example"


async def _mail(notify: NotifyUnderTest, ticket_no: str, template: str) -> dict[str, Any]:
    [n] = [
        n
        for n in await notify.notifications(ticket_no, channel="email")
        if n["template"] == template
    ]
    return dict(n)


async def test_a_mail_whose_data_answer_times_out_is_resent_once_with_the_same_message_id(
    notify_app: NotifyFactory, mailbox: Mailbox
) -> None:
    clock = ManualClock(next_local(10))
    mailbox.slow_answers, mailbox.slow_s = 1, 1.5
    async with notify_app(
        scheduler_enabled=False, app_kw={"clock": clock}, smtp_timeout_s=0.5
    ) as notify:
        await notify.apply(ev.received("EM-2"), ev.progress_notice("EM-2"))
        await notify.tick()
        n = await _mail(notify, "EM-2", "progress_notice")
        message_id = n["provider_message_id"]
        assert n["status"] == "pending" and "outcome unknown" in n["last_error"]
        assert message_id and message_id in n["last_error"]
        # The server did take it: the customer-facing risk is a second copy, not none.
        await eventually(lambda: _count(mailbox, FRONTDESK, 1))

        clock.advance(seconds=notify.parts.settings.uncertain_resend_delay_s)
        await notify.tick()
        n = await _mail(notify, "EM-2", "progress_notice")
        assert (n["status"], n["attempts"], n["provider_message_id"]) == ("sent", 2, message_id)
        assert "may have it twice" in n["last_error"]
        copies = mailbox.to(FRONTDESK)
        assert [m["Message-ID"] for m in copies] == [message_id, message_id]


async def test_without_resends_the_mail_is_unknown_with_its_message_id_and_ops_hear(
    notify_app: NotifyFactory, mailbox: Mailbox
) -> None:
    clock = ManualClock(next_local(10))
    mailbox.slow_answers, mailbox.slow_s = 1, 1.5
    async with notify_app(
        scheduler_enabled=False,
        app_kw={"clock": clock},
        smtp_timeout_s=0.5,
        uncertain_resend_max=0,
    ) as notify:
        await notify.apply(ev.received("EM-3"), ev.progress_notice("EM-3"))
        await notify.tick()
        n = await _mail(notify, "EM-3", "progress_notice")
        assert n["status"] == "unknown" and n["provider_message_id"] in n["last_error"]
        alert = await _mail(notify, "EM-3", "delivery_alert")
        assert alert["subject"] == "【发送异常】投诉EM-3的处理进展通报邮件发送结果不明"
        clock.advance(seconds=3600)
        await notify.tick()
        assert (await _mail(notify, "EM-3", "delivery_alert"))["status"] == "sent"
        await eventually(lambda: _count(mailbox, FRONTDESK, 1))
        assert len(mailbox.to(FRONTDESK)) == 1 and len(mailbox.to(OPS)) == 1


async def _count(mailbox: Mailbox, to: str, n: int) -> bool:
    return len(mailbox.to(to)) == n
