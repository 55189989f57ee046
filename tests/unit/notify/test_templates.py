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
        "acceptance_due": "11月24日 10:00",
        "first_reply_due": "12月2日 10:00",
        "resolution_due": "12月21日 10:00",
    },
    "ticket_accepted": {"ticket_no": "GD20261122000123"},
    "ticket_first_reply": {"ticket_no": "GD20261122000123"},
    "ticket_resolved": {
        "ticket_no": "GD20261122000123",
        # the longest result the SMS quotes (NOTIFY_SMS_RESULT_MAX_CHARS, 60)
        "result": result_for_sms("经核查，您所在小区的基站因光缆被挖断导致信号中断" * 3, 60),
    },
    "ticket_resolved_email": {
        "ticket_no": "GD20261122000123",
        "result": "经核查，您所在小区的基站因传输光缆被施工挖断导致信号中断，已于当日抢修完毕。",
    },
    "survey_unclear": {},
    "ticket_reopened": {"ticket_no": "GD20261122000123"},
    "refund_approved": {"ticket_no": "GD20261122000123", "amount_yuan": "150.50"},
    "refund_paid": {"ticket_no": "GD20261122000123", "amount_yuan": "150.50"},
    "surge_resolved": {"ticket_no": "GD20261122000123", "resolution": "基站故障已修复"},
    "sla_warning": {
        "ticket_no": "GD20261122000123",
        "clock": "首次答复",
        "due_at": "12月2日 10:00",
        "threshold": "75%",
        "handler_department": "network_maintenance",
    },
    "sla_breached": {
        "ticket_no": "GD20261122000123",
        "clock": "办结",
        "due_at": "12月21日 10:00",
        "handler_department": "network_maintenance",
    },
    "ticket_escalated": {
        "ticket_no": "GD20261122000123",
        "supervisor": "mgr_network",
        "trigger": "sla_breach",
        "reason": "first_reply deadline passed",
        "handler_department": "network_maintenance",
        "escalated_at": "12月3日 09:00",
    },
    "progress_notice": {
        "ticket_no": "GD20261122000123",
        "owner_department": "frontdesk_10086",
        "handler_department": "network_maintenance",
        "days_open": "4",
        "due_at": "11月26日 10:00",
    },
    "webhook_disabled": {
        "subscription_id": "ep_0123",
        "url": "https://partner.example.com/hooks",
        "reason": "the endpoint answered 410 Gone",
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
    assert "投诉编码：GD1" in text and "24小时内受理" in text
    with pytest.raises(MissingValue):
        t.render({"ticket_no": "GD1"})


def test_only_the_messages_the_rules_require_ignore_an_opt_out() -> None:
    required = {name for name, t in templates().items() if t.required and t.channel == "sms"}
    assert required == {"ticket_registered", "ticket_resolved"}
    urgent = {name for name, t in templates().items() if t.urgent}
    assert urgent == {"ticket_registered"}


def test_the_survey_asks_for_1_or_2() -> None:
    body = templates()["ticket_resolved"].render(VALUES["ticket_resolved"]).body
    assert "回复1表示满意" in body and "回复2表示不满意" in body


def test_templates_are_data() -> None:
    assert all(isinstance(t, Template) for t in templates().values())
