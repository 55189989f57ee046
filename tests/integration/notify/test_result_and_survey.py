"""The result reaches the customer: the resolution SMS carries it (cut short, pointing to
10086), a customer who gave an e-mail gets it in full by e-mail, and survey replies are
read the way customers type them (1/2, 满意, 不满意, 非常满意, 一般), with a clear reply to
anything else."""

from __future__ import annotations

from services.notify.sms.sink import SmppSink
from tests.builders import eventually
from tests.integration.notify import events as ev
from tests.integration.notify.conftest import Mailbox, NotifyFactory, NotifyUnderTest

LONG = (
    "经核查，您所在的天河区华景新城基站因传输光缆被施工挖断导致信号中断，"
    "我公司已于当日抢修完毕并对基站参数进行了优化，目前该区域信号已恢复正常，"
    "同时已为您减免当月月租20元，感谢您的理解与支持"
)


async def _sent(notify: NotifyUnderTest, ticket_no: str, template: str) -> dict[str, object]:
    async def probe() -> dict[str, object] | None:
        for n in await notify.notifications(ticket_no):
            if n["template"] == template and n["status"] in ("sent", "delivered"):
                return dict(n)
        return None

    return await eventually(probe, within=10)


async def test_the_result_sms_carries_the_result_and_the_email_has_it_in_full(
    notify_app: NotifyFactory, smsc: SmppSink, mailbox: Mailbox
) -> None:
    async with notify_app() as notify:
        await notify.apply(ev.received("TS-R1", email="zhang.san@example.com"), ev.clocks("TS-R1"))
        resolved = ev.status("TS-R1", "resolved", resolution=LONG)
        await notify.apply(resolved, resolved)  # redelivered: still one SMS, one e-mail
        sms = await _sent(notify, "TS-R1", "ticket_resolved")
        body = str(sms["body"])
        assert "处理结果：经核查，您所在的天河区华景新城基站" in body
        assert "…（详情请咨询10086）" in body and "同时已为您减免" not in body
        assert "回复1表示满意" in body
        mail = await _sent(notify, "TS-R1", "ticket_resolved_email")
        assert mail["channel"] == "email" and mail["recipient"] == "zh***@example.com"
        await eventually(lambda: _received(mailbox, "zhang.san@example.com"))
        message = mailbox.to("zhang.san@example.com")[0]
        assert "TS-R1" in str(message["Subject"])
        assert "同时已为您减免当月月租20元" in message.get_content()
        templates = [n["template"] for n in await notify.notifications("TS-R1")]
        assert templates.count("ticket_resolved") == 1
        assert templates.count("ticket_resolved_email") == 1


async def _received(mailbox: Mailbox, address: str) -> bool:
    return bool(mailbox.to(address))


async def test_a_short_result_is_quoted_whole_and_no_email_without_an_address(
    notify_app: NotifyFactory, smsc: SmppSink
) -> None:
    async with notify_app() as notify:
        await notify.apply(ev.received("TS-R2"), ev.clocks("TS-R2"))
        await notify.apply(ev.status("TS-R2", "resolved", resolution="已为您退费10元。"))
        sms = await _sent(notify, "TS-R2", "ticket_resolved")
        assert "处理结果：已为您退费10元。请您评价" in str(sms["body"])
        assert "详情请咨询" not in str(sms["body"])
        assert {n["template"] for n in await notify.notifications("TS-R2")} == {
            "ticket_registered",
            "ticket_resolved",
        }


async def test_survey_answers_are_read_as_customers_type_them(
    notify_app: NotifyFactory, smsc: SmppSink
) -> None:
    async with notify_app(sms_rate_limit_count=50) as notify:
        numbers = {
            "TS-S1": ("+8613800138001", "满意", True, 4),
            "TS-S2": ("+8613800138002", "不满意。", False, 1),
            "TS-S3": ("+8613800138003", "非常满意", True, 5),
            "TS-S4": ("+8613800138004", "一般", True, 3),
        }
        for ticket_no, (msisdn, *_rest) in numbers.items():
            await notify.apply(ev.received(ticket_no, msisdn=msisdn), ev.clocks(ticket_no))
            await notify.apply(ev.status(ticket_no, "resolved", resolution="已修复"))
        for msisdn, text, *_ in numbers.values():
            await smsc.send_mo(msisdn[1:], text)

        async def four() -> list[dict[str, object]] | None:
            replies = await notify.outbox("SurveyReplied")
            return replies if len(replies) == 4 else None

        replies = {r["ticket_no"]: r for r in await eventually(four)}
        for ticket_no, (_, text, satisfied, score) in numbers.items():
            assert (replies[ticket_no]["satisfied"], replies[ticket_no]["score"]) == (
                satisfied,
                score,
            ), text


async def test_an_unclear_reply_gets_one_clear_answer_and_the_survey_stays_open(
    notify_app: NotifyFactory, smsc: SmppSink
) -> None:
    async with notify_app(sms_rate_limit_count=50) as notify:
        await notify.apply(ev.received("TS-U1"), ev.clocks("TS-U1"))
        await notify.apply(ev.status("TS-U1", "resolved", resolution="已修复"))
        await smsc.send_mo("8613800138000", "信号还是时好时坏")
        unclear = await _sent(notify, "TS-U1", "survey_unclear")
        assert "回复1表示满意，回复2表示不满意" in str(unclear["body"])
        assert await notify.outbox("SurveyReplied") == []
        await smsc.send_mo("8613800138000", "2")  # the survey is still open
        replies = await eventually(lambda: notify.outbox("SurveyReplied"))
        assert [(r["ticket_no"], r["satisfied"]) for r in replies] == [("TS-U1", False)]
        templates = [n["template"] for n in await notify.notifications("TS-U1")]
        assert templates.count("survey_unclear") == 1
