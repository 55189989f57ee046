"""Customer SMS end to end: recorded from events, sent once over SMPP to a real peer, delivery
receipts folded in, survey replies mapped back to the right ticket."""

from __future__ import annotations

from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer

from services.notify.sms.sink import SmppSink
from shared.events import SlaDeadlineExtended
from tests.builders import eventually
from tests.integration.notify import events as ev
from tests.integration.notify.conftest import NotifyFactory, NotifyUnderTest
from tests.integration.platform.fixtures import send


async def _delivered(notify: NotifyUnderTest, ticket_no: str, template: str) -> dict[str, object]:
    async def probe() -> dict[str, object] | None:
        for n in await notify.notifications(ticket_no):
            if n["template"] == template and n["status"] == "delivered":
                return dict(n)
        return None

    return await eventually(probe, within=10)


async def test_a_redelivered_registration_sends_one_sms_with_number_and_promised_times(
    notify_app: NotifyFactory, smsc: SmppSink, producer: AIOKafkaProducer
) -> None:
    async with notify_app(consumers_enabled=True) as notify:
        registered = ev.received("TS-1")
        await send(producer, registered)
        await send(producer, ev.clocks("TS-1"))
        await send(producer, registered)  # redelivery: the same event id again
        sms = await _delivered(notify, "TS-1", "ticket_registered")
        assert sms["recipient"] == "138****8000" and sms["channel"] == "sms"
        body = str(sms["body"])
        assert "投诉编码：TS-1" in body and "11月24日10时前受理" in body
        assert "12月21日10时前办结" in body
        assert [text for _, text in smsc.messages] == [body]
        assert smsc.pdus[0].destination == "8613800138000" and smsc.pdus[0].data_coding == 8
        assert len(await notify.notifications("TS-1")) == 1
        recorded = await notify.outbox("NotificationRecorded")
        assert len(recorded) == 1 and recorded[0]["recipient_masked"] == "138****8000"


async def test_registration_goes_without_times_when_the_clocks_are_late(
    notify_app: NotifyFactory, smsc: SmppSink
) -> None:
    async with notify_app(registration_wait_for_clocks_s=0.3) as notify:
        await notify.apply(ev.received("TS-2"))
        sms = await _delivered(notify, "TS-2", "ticket_registered")
        assert "投诉编码：TS-2" in str(sms["body"]) and "尽快受理" in str(sms["body"])
        await notify.apply(ev.clocks("TS-2"))  # too late: nothing is sent again
        assert len(smsc.messages) == 1


async def test_lifecycle_messages_and_a_survey_reply_for_the_latest_resolved_ticket(
    notify_app: NotifyFactory, smsc: SmppSink
) -> None:
    async with notify_app(sms_rate_limit_count=20) as notify:
        await notify.apply(ev.received("TS-3"), ev.clocks("TS-3"), ev.received("TS-4"))
        await notify.apply(
            ev.status("TS-3", "accepted"),
            ev.status("TS-3", "replied"),
            ev.status("TS-3", "replied"),  # a second reply is no "first reply"
            ev.status("TS-3", "resolved", at=ev.NOW),
            ev.status("TS-4", "resolved", at=ev.NOW.replace(hour=3)),
            ev.status("TS-4", "reopened"),
        )
        templates = {n["template"] for n in await notify.notifications("TS-3")}
        assert templates == {
            "ticket_registered",
            "ticket_accepted",
            "ticket_first_reply",
            "ticket_resolved",
        }
        resolved = await _delivered(notify, "TS-3", "ticket_resolved")
        assert "回复1表示满意，回复2表示不满意" in str(resolved["body"])
        assert (await _delivered(notify, "TS-4", "ticket_reopened"))["status"] == "delivered"

        # TS-4 was resolved later but reopened: its survey closed, so "１" answers TS-3.
        await smsc.send_mo("8613800138000", "１")
        replies = await eventually(lambda: notify.outbox("SurveyReplied"))
        assert [(r["ticket_no"], r["satisfied"], r["raw_reply"]) for r in replies] == [
            ("TS-3", True, "１")
        ]
        await smsc.send_mo("8613800138000", "2")  # the survey is answered: nothing more
        await smsc.send_mo("8613900139000", "2")  # not our customer
        assert len(await notify.outbox("SurveyReplied")) == 1


async def test_refunds_in_yuan_and_one_message_per_customer_when_a_surge_ends(
    notify_app: NotifyFactory, smsc: SmppSink
) -> None:
    other = "+8613900139000"
    async with notify_app() as notify:
        await notify.apply(
            ev.received("TS-5"),
            ev.received("TS-6"),
            ev.received("TS-7", msisdn=other),
            ev.refund_approved("TS-5", 15050),
            ev.refund_paid("TS-5", 15050),
            ev.surge_resolved(["TS-5", "TS-6", "TS-7", "TS-unknown"]),
        )
        paid = await _delivered(notify, "TS-5", "refund_paid")
        assert "退费150.50元已退回" in str(paid["body"])
        surge = [n for n in await notify.notifications() if n["template"] == "surge_resolved"]
        assert sorted((n["ticket_no"], n["recipient"]) for n in surge) == [
            ("TS-5", "138****8000"),
            ("TS-7", "139****9000"),
        ]
        assert "基站故障已修复" in surge[0]["body"]


async def test_messages_read_before_the_customers_number_are_sent_when_it_arrives(
    notify_app: NotifyFactory, smsc: SmppSink
) -> None:
    """Refund and surge events come from other topics than TicketReceived and can be read
    first; they wait for the number instead of being dropped, and a customer still hears
    about one surge once."""
    async with notify_app() as notify:
        refund = ev.refund_approved("TS-8", 2000)
        surge = ev.surge_resolved(["TS-9", "TS-8", "TS-10"])
        await notify.apply(ev.received("TS-9"), refund, surge, refund)
        assert {n["ticket_no"] for n in await notify.notifications()} == {"TS-9"}
        late = ev.received("TS-8", msisdn="+8613900139000")
        await notify.apply(late, ev.received("TS-10"))
        await _delivered(notify, "TS-8", "refund_approved")
        await _delivered(notify, "TS-8", "surge_resolved")
        templates = sorted((n["ticket_no"], n["template"]) for n in await notify.notifications())
        assert templates == [
            ("TS-10", "ticket_registered"),
            ("TS-8", "refund_approved"),
            ("TS-8", "surge_resolved"),
            ("TS-8", "ticket_registered"),
            ("TS-9", "surge_resolved"),  # TS-10 is the same customer's: not told twice
            ("TS-9", "ticket_registered"),
        ]
        await notify.apply(refund, late)  # redelivered
        assert len(await notify.notifications("TS-8")) == 3


async def test_a_ticket_without_a_customer_messages_nobody_and_says_why(
    notify_app: NotifyFactory, smsc: SmppSink
) -> None:
    """A TMF621 fault report about a cell has no customer: every customer message it would
    have had is recorded as suppressed with the reason, including one read before the ticket,
    and nothing reaches the SMSC."""
    async with notify_app() as notify:
        early = ev.refund_approved("TS-20", 1500)
        customerless = ev.received(
            "TS-20", msisdn_masked=None, no_customer_reason="TMF621 ticket without a customer"
        )
        customerless = ev.env(customerless.event.model_copy(update={"msisdn": None}))
        await notify.apply(early, customerless, ev.clocks("TS-20"))
        await notify.apply(ev.status("TS-20", "accepted", "received"), customerless)
        await notify.apply(ev.received("TS-21"), ev.clocks("TS-21"))
        await _delivered(notify, "TS-21", "ticket_registered")
        mine = await notify.notifications("TS-20")
        assert sorted((n["template"], n["status"]) for n in mine) == [
            ("refund_approved", "suppressed"),
            ("ticket_accepted", "suppressed"),
            ("ticket_registered", "suppressed"),
        ]
        assert all(n["last_error"].startswith("no customer number: TMF621") for n in mine)
        assert all(n["recipient"] == "" and n["sent_at"] is None for n in mine)
        assert all("TS-20" not in text for _, text in smsc.messages)
        assert any("TS-21" in text for _, text in smsc.messages)


async def test_an_extension_tells_the_customer_the_reason_and_new_deadline_once(
    notify_app: NotifyFactory, smsc: SmppSink
) -> None:
    async with notify_app() as notify:
        extended = ev.env(
            SlaDeadlineExtended(
                ticket_no="TS-EXT",
                clock="resolution",
                old_due_at=datetime(2026, 12, 29, 16, tzinfo=UTC),
                new_due_at=datetime(2027, 1, 4, 16, tzinfo=UTC),
                provisional=True,
                working_days=3,
                reason="需协调基站选址。",
                extended_by="mgr-wang",
                extended_at=ev.NOW,
            )
        )
        await notify.apply(ev.received("TS-EXT"), ev.clocks("TS-EXT"), extended, extended)
        sms = await _delivered(notify, "TS-EXT", "sla_extended")
        assert sms["body"] == (
            "【中国移动】尊敬的客户，您的投诉（投诉编码：TS-EXT）因需协调基站选址，需延长处理时间，"
            "我们将于2027年1月4日24时前办结（如遇节假日安排调整，以实际为准）。给您带来不便，敬请谅解。"
        )
        templates = [n["template"] for n in await notify.notifications("TS-EXT")]
        assert templates.count("sla_extended") == 1
