"""Every template renders for the event that uses it: Simplified Chinese, no placeholder left,
customer SMS short enough to stay a few segments, the required ones marked as required."""

from __future__ import annotations

import re

import pytest

from services.notify.domain import result_for_sms
from services.notify.sms.encoding import segments
from services.notify.templates import MissingValue, Template, templates

# The values each handler supplies for its template (see services/notify/handlers.py).
VALUES: dict[str, dict[str, str]] = {
    "ticket_registered": {
        "ticket_no": "GD20261122000123",
        "acceptance_due": "11月24日10时",
        "first_reply_due": "12月2日24时",
        "resolution_due": "12月21日24时",
        "caveat": "",
    },
    "ticket_accepted": {"ticket_no": "GD20261122000123"},
    "ticket_first_reply": {"ticket_no": "GD20261122000123"},
    "ticket_resolved": {
        "ticket_no": "GD20261122000123",
        # the longest result the SMS quotes (NOTIFY_SMS_RESULT_MAX_CHARS, 60)
        "result": result_for_sms(
            "经核查，您所在的华景新城基站因传输光缆被施工挖断导致信号中断，已于当日抢修完毕，"
            "目前信号已恢复正常，并为您减免当月月租20元",
            60,
        ),
    },
    "ticket_resolved_email": {
        "ticket_no": "GD20261122000123",
        "result": "经核查，您所在小区的基站因传输光缆被施工挖断导致信号中断，已于当日抢修完毕。",
    },
    "survey_unclear": {},
    "ticket_reopened": {"ticket_no": "GD20261122000123"},
    "sla_extended": {
        "ticket_no": "GD20261122000123",
        "reason": "需协调基站选址",
        "new_due": "2027年1月5日24时",
        "caveat": "（如遇节假日安排调整，以实际为准）",
    },
    "refund_approved": {"ticket_no": "GD20261122000123", "amount_yuan": "150.50"},
    "refund_paid": {"ticket_no": "GD20261122000123", "amount_yuan": "150.50"},
    "surge_resolved": {"ticket_no": "GD20261122000123", "resolution": "基站故障已修复"},
    "sla_warning": {
        "ticket_no": "GD20261122000123",
        "clock": "首次答复时限",
        "due_at": "12月2日24时",
        "threshold": "已用去75%的时限或距到期不足1个工作日",
        "handler_department": "网络维护部",
    },
    "sla_breached": {
        "ticket_no": "GD20261122000123",
        "clock": "办结时限",
        "due_at": "12月21日24时",
        "handler_department": "网络维护部",
    },
    "ticket_escalated": {
        "ticket_no": "GD20261122000123",
        "supervisor": "mgr_network",
        "trigger": "时限超时",
        "reason": "首次答复时限已过",
        "handler_department": "网络维护部",
        "escalated_at": "12月3日 09:00",
    },
    "progress_notice": {
        "ticket_no": "GD20261122000123",
        "owner_department": "10086前台",
        "handler_department": "网络维护部",
        "days_open": "4",
        "due_at": "11月26日10时",
        "latest": "· 11月25日 16:20 网络维护部：已定位为华景新城基站传输故障，正在抢修",
    },
    "progress_final": {
        "ticket_no": "GD20261122000123",
        "owner_department": "10086前台",
        "handler_department": "网络维护部",
        "days_open": "6",
        "due_at": "11月28日 10:00",
        "resolution": "基站传输光缆已更换，信号恢复正常",
        "latest": "· 11月27日 18:00 网络维护部：光缆已更换，正在观察",
    },
    "staff_alert": {
        "title": "同内容投诉预警",
        "what": "10086前台desk-7本班次已受理3单同内容投诉",
        "todo": "请立即核实情况，并督促责任部门（网络维护部）1小时内给予初步答复。",
        "greeting": "王芳班长您好",
        "tickets": "GD20261122000121、GD20261122000122、GD20261122000123",
        "cluster_id": "S-0123",
        "raised_at": "11月22日 09:05",
        "missing": "",
    },
    "staff_alert_sms": {
        "what": "10086前台desk-7本班次已受理3单同内容投诉",
        "todo": "请立即核实情况，并督促责任部门（网络维护部）1小时内给予初步答复。",
        "greeting": "王芳班长您好",
        "cluster_id": "S-0123",
    },
    "webhook_disabled": {
        "subscription_id": "ep_0123",
        "url": "https://partner.example.com/hooks",
        "reason": "the endpoint answered 410 Gone",
    },
    "delivery_alert": {
        "ticket_no": "GD20261122000123",
        "message": "投诉登记短信",
        "outcome": "发送结果不明",
        "recipient": "138****8000",
        "reason": "发送后未收到网关确认，客户可能已收到也可能未收到；已重发1次，不再重发",
        "notification_id": "42",
        "attempts": "2",
    },
}
HAN = re.compile(r"[\u4e00-\u9fff]")


def test_every_template_has_its_values_and_no_other() -> None:
    assert set(VALUES) == set(templates())
    for name, t in templates().items():
        assert t.placeholders() == set(VALUES[name]), name


@pytest.mark.parametrize("name", sorted(VALUES))
def test_each_template_renders_in_chinese_with_nothing_left_over(name: str) -> None:
    t = templates()[name]
    rendered = t.render(VALUES[name])
    for text in filter(None, (rendered.subject, rendered.body)):
        assert "{" not in text and "}" not in text
    assert len(HAN.findall(rendered.body)) > 20
    if t.channel == "sms":
        assert rendered.body.startswith("【中国移动】")
        assert len(segments(rendered.body, 1)) <= 3, "keep customer SMS within three segments"
    else:
        assert rendered.subject and t.audience in ("staff", "partner", "customer")


def test_the_registration_sms_has_a_form_without_the_promised_times() -> None:
    t = templates()["ticket_registered"]
    text = t.render({"ticket_no": "GD1"}, alternate=True).body
    assert "投诉编码：GD1" in text and "尽快受理" in text
    assert not any(ch.isdigit() for ch in text.replace("GD1", "")), "no copied limits"
    with pytest.raises(MissingValue):
        t.render({"ticket_no": "GD1"})


def test_only_the_messages_the_rules_require_ignore_an_opt_out() -> None:
    required = {name for name, t in templates().items() if t.required and t.channel == "sms"}
    assert required == {"ticket_registered", "ticket_resolved", "sla_extended"}
    urgent = {name for name, t in templates().items() if t.urgent}
    # only staff alerts skip quiet hours (and an urgent complaint's registration, by policy)
    assert urgent == {"staff_alert", "staff_alert_sms"}
    assert all(templates()[name].audience == "staff" for name in urgent)


def test_the_survey_asks_for_1_or_2() -> None:
    body = templates()["ticket_resolved"].render(VALUES["ticket_resolved"]).body
    assert "回复1表示满意" in body and "回复2表示不满意" in body


def test_templates_are_data() -> None:
    assert all(isinstance(t, Template) for t in templates().values())


# What each template reads like for one example ticket, and how many SMS segments it costs.
EXPECTED: dict[str, tuple[str, int]] = {
    "ticket_registered": (
        "【中国移动】尊敬的客户，您的投诉已登记，投诉编码：GD20261122000123。我们将于11月24日"
        "10时前受理，12月2日24时前给您首次答复，12月21日24时前办结。感谢您的耐心。",
        2,
    ),
    "ticket_accepted": (
        "【中国移动】您的投诉（投诉编码：GD20261122000123）已受理，我们正在处理，将尽快给您答复。",
        1,
    ),
    "ticket_first_reply": (
        "【中国移动】关于您的投诉（投诉编码：GD20261122000123），处理人员已给出答复，"
        "如有疑问请拨打10086。",
        1,
    ),
    "ticket_resolved": (
        "【中国移动】您的投诉（投诉编码：GD20261122000123）已处理完毕。处理结果：经核查，您所在的"
        "华景新城基站因传输光缆被施工挖断导致信号中断，已于当日抢修完毕，目前信号已恢复正常，并为您"
        "减免当月月租…（详情请咨询10086）。请您评价本次处理：回复1表示满意，回复2表示不满意。"
        "感谢您对中国移动的支持！",
        3,
    ),
    "survey_unclear": (
        "【中国移动】抱歉，未能识别您的回复。请回复1表示满意，回复2表示不满意（也可直接回复“满意”"
        "或“不满意”）。如需咨询请拨打10086。",
        1,
    ),
    "ticket_reopened": (
        "【中国移动】您对投诉（投诉编码：GD20261122000123）的处理结果不满意，我们将重新为您处理，"
        "并尽快再次答复您。",
        1,
    ),
    "sla_extended": (
        "【中国移动】尊敬的客户，您的投诉（投诉编码：GD20261122000123）因需协调基站选址，需延长"
        "处理时间，我们将于2027年1月5日24时前办结（如遇节假日安排调整，以实际为准）。给您带来"
        "不便，敬请谅解。",
        2,
    ),
    "refund_approved": (
        "【中国移动】您的投诉（投诉编码：GD20261122000123）涉及的退费150.50元已审批通过，"
        "将退回您的话费账户。",
        1,
    ),
    "refund_paid": (
        "【中国移动】退费150.50元已退回您的话费账户（投诉编码：GD20261122000123），请注意查收。",
        1,
    ),
    "staff_alert_sms": (
        "【中国移动】投诉预警：王芳班长您好，10086前台desk-7本班次已受理3单同内容投诉。"
        "请立即核实情况，并督促责任部门（网络维护部）1小时内给予初步答复。集群：S-0123。",
        2,
    ),
    "surge_resolved": (
        "【中国移动】尊敬的客户，您反映的问题（投诉编码：GD20261122000123）已解决：基站故障已修复。"
        "给您带来的不便，敬请谅解。",
        1,
    ),
}
STAFF_EXPECTED = {
    "sla_warning": "【时限预警】投诉GD20261122000123的首次答复时限将于12月2日24时前到期",
    "sla_breached": "【时限超时】投诉GD20261122000123的办结时限已于12月21日24时超时",
    "ticket_escalated": "【升级督办】投诉GD20261122000123已升级，督办人：mgr_network",
    "progress_notice": "【处理进展通报】投诉GD20261122000123已处理4天",
    "progress_final": "【处理结果通报】投诉GD20261122000123已处理完毕",
    "webhook_disabled": "【Webhook已停用】订阅ep_0123",
    "delivery_alert": "【发送异常】投诉GD20261122000123的投诉登记短信发送结果不明",
    "staff_alert": "【同内容投诉预警】10086前台desk-7本班次已受理3单同内容投诉",
}
CODES = re.compile(r"[a-z]+_[a-z_]+|\d+%\|")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_customer_sms_reads_as_expected_and_costs_its_segments(name: str) -> None:
    body = templates()[name].render(VALUES[name]).body
    text, parts = EXPECTED[name]
    assert body == text
    assert len(segments(body, 1)) == parts


@pytest.mark.parametrize("name", sorted(STAFF_EXPECTED))
def test_each_staff_mail_reads_as_expected_without_raw_codes(name: str) -> None:
    rendered = templates()[name].render(VALUES[name])
    assert rendered.subject == STAFF_EXPECTED[name]
    if templates()[name].audience == "staff":
        body = rendered.body.replace("mgr_network", "")
        assert not CODES.search(body), body


CUSTOMER_MAIL_EXPECTED = {
    "ticket_resolved_email": "【中国移动】您的投诉（投诉编码：GD20261122000123）处理结果",
}


def test_the_result_mail_carries_the_whole_result_without_codes() -> None:
    rendered = templates()["ticket_resolved_email"].render(VALUES["ticket_resolved_email"])
    assert rendered.subject == CUSTOMER_MAIL_EXPECTED["ticket_resolved_email"]
    whole = "处理结果：" + VALUES["ticket_resolved_email"]["result"]
    assert whole in rendered.body
    assert not CODES.search(rendered.body)


def test_every_template_has_an_expected_rendering() -> None:
    assert set(EXPECTED) | set(STAFF_EXPECTED) | set(CUSTOMER_MAIL_EXPECTED) == set(templates())
