"""Staff alerts through notify to a real SMTP server and SMPP peer: one e-mail (and, urgent,
one SMS) per recipient and alert however often the event comes, quiet hours never delaying
them, nobody in the directory falling back to ops, and a cluster's escalation not mailed
once per ticket."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from services.notify.sms.sink import SmppSink
from shared.cloudevents import Envelope
from shared.events import StaffAlertRaised, StaffContact, TicketEscalated
from tests.builders import eventually
from tests.integration.notify import events as ev
from tests.integration.notify.conftest import Mailbox, NotifyFactory

SH = ZoneInfo("Asia/Shanghai")
LEADER = StaffContact(
    role="shift_leader", name="王芳", email="wangfang@10086.example", mobile="+8613900139001"
)


def _alert(key: str, recipients: list[StaffContact], kind: str = "front_desk") -> Envelope:
    now = datetime.now(UTC)
    return Envelope(
        event=StaffAlertRaised(
            ticket_no="SA-3",
            alert_key=key,
            kind=kind,
            cluster_id="S-1",
            unit="desk-7",
            count=3,
            tickets=["SA-1", "SA-2", "SA-3"],
            departments=["network_maintenance"],
            recipients=recipients,
            urgent=True,
            due_at=now + timedelta(hours=1),
            raised_at=now,
        )
    )


async def test_each_person_hears_of_an_alert_once_even_at_night(
    notify_app: NotifyFactory, mailbox: Mailbox, smsc: SmppSink
) -> None:
    local = datetime.now(SH)
    quiet = {  # quiet hours around now: customers would wait, staff alerts do not
        "quiet_hours_start": (local - timedelta(hours=1)).time().replace(microsecond=0),
        "quiet_hours_end": (local + timedelta(hours=1)).time().replace(microsecond=0),
    }
    async with notify_app(**quiet) as notify:
        first = _alert("S-1:front_desk:desk-7", [LEADER])
        again = _alert("S-1:front_desk:desk-7", [LEADER])  # re-raised under a new event id
        await notify.apply(first, first, again)
        await eventually(lambda: _one(mailbox, smsc), within=15)
        [mail] = mailbox.to("wangfang@10086.example")
        assert str(mail["Subject"]) == "【同内容投诉预警】10086前台desk-7本班次已受理3单同内容投诉"
        body = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert body.startswith("王芳班长您好：") and "SA-1、SA-2、SA-3" in body
        assert "网络维护部" in body and "network_maintenance" not in body
        [(_, sms)] = smsc.messages
        assert sms.startswith("【中国移动】投诉预警：王芳班长您好")


async def _one(mailbox: Mailbox, smsc: SmppSink) -> bool:
    return len(mailbox.messages) == 1 and len(smsc.messages) == 1


async def test_an_alert_nobody_holds_goes_to_ops_and_a_cluster_escalation_is_not_mailed_per_ticket(
    notify_app: NotifyFactory, mailbox: Mailbox
) -> None:
    async with notify_app() as notify:
        await notify.apply(_alert("S-2:company_leader:", [], kind="company_leader"))
        escalation = TicketEscalated(
            ticket_no="SA-9",
            trigger="major",
            reason="same_content_surge",
            supervisor="leader_in_charge",
            handler_department="network_maintenance",
            escalated_at=datetime.now(UTC),
            cluster_id="S-2",
        )
        await notify.apply(ev.received("SA-9"), Envelope(event=escalation))

        async def ops_mail() -> bool:
            return bool(mailbox.to("ops@complaints.10086.example"))

        await eventually(ops_mail, within=15)
        [mail] = mailbox.to("ops@complaints.10086.example")
        assert str(mail["Subject"]).startswith("【重大投诉上报】")
        assert "员工目录中未找到负责人" in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert await notify.notifications("SA-9", channel="email") == []
