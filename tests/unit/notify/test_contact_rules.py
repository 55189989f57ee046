"""Quiet hours, the per-customer rate limit, opt-out, survey replies, amounts in yuan."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.notify import domain

SH = ZoneInfo("Asia/Shanghai")
QUIET = domain.QuietHours(time(22), time(8))
POLICY = domain.ContactPolicy(QUIET, rate_limit_count=3, rate_limit_window_s=3600)


def sh(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SH)


@pytest.mark.parametrize(
    ("now", "until"),
    [
        (sh(23, 21, 59), None),
        (sh(23, 22, 0), sh(24, 8)),
        (sh(23, 23, 30), sh(24, 8)),
        (sh(24, 0, 10), sh(24, 8)),
        (sh(24, 7, 59), sh(24, 8)),
        (sh(24, 8, 0), None),
    ],
)
def test_quiet_hours_span_midnight_in_shanghai(now: datetime, until: datetime | None) -> None:
    assert QUIET.until(now.astimezone(UTC)) == until


def test_a_daytime_window_and_an_empty_one() -> None:
    lunch = domain.QuietHours(time(12), time(13))
    assert lunch.until(sh(23, 12, 30)) == sh(23, 13)
    assert lunch.until(sh(23, 13, 0)) is None
    assert domain.QuietHours(time(0), time(0)).until(sh(23, 3)) is None


def _decide(**kw: object) -> domain.SendDecision:
    values: dict[str, object] = {
        "now": sh(23, 10),
        "channel": "sms",
        "urgent": False,
        "required": False,
        "opted_out": False,
        "recent_sends": [],
        "policy": POLICY,
    }
    values.update(kw)
    return domain.decide(**values)  # type: ignore[arg-type]


def test_opt_out_suppresses_unless_the_rules_require_the_message() -> None:
    assert _decide(opted_out=True).action == "suppress"
    assert _decide(opted_out=True, required=True).action == "send"


def test_urgent_messages_ignore_quiet_hours_and_the_rate_limit() -> None:
    night = sh(23, 23)
    assert _decide(now=night) == domain.SendDecision("defer", sh(24, 8), "quiet hours")
    assert _decide(now=night, urgent=True).action == "send"


def test_the_rate_limit_defers_until_the_oldest_send_leaves_the_window() -> None:
    now = sh(23, 10)
    sends = [now - timedelta(minutes=m) for m in (50, 20, 5)]
    decision = _decide(recent_sends=sends)
    assert decision == domain.SendDecision("defer", now + timedelta(minutes=10), "rate limit")
    assert _decide(recent_sends=sends[1:]).action == "send"
    assert _decide(recent_sends=sends, urgent=True).action == "send"


def test_e_mail_to_staff_always_goes() -> None:
    assert _decide(channel="email", now=sh(23, 23), opted_out=True).action == "send"


@pytest.mark.parametrize(
    ("reply", "satisfied"),
    [
        ("1", True),
        (" 2 ", False),
        ("１", True),
        ("２。", False),
        ("3", None),
        ("满意", True),
        ("好的", None),
    ],
)
def test_survey_replies(reply: str, satisfied: bool | None) -> None:
    assert domain.parse_survey_reply(reply) is satisfied


def test_amounts_read_in_yuan_and_times_in_shanghai() -> None:
    assert domain.yuan(15050) == "150.50" and domain.yuan(7) == "0.07"
    assert domain.local_time_text(datetime(2026, 11, 23, 16, 5, tzinfo=UTC)) == "11月24日 00:05"
    assert domain.clock_name("first_reply") == "首次答复时限"
    assert domain.clock_name("regulator") == "申诉答复时限"
    assert domain.clock_name("something_new") == "处理时限"


DEC_20 = datetime(2026, 12, 20, tzinfo=UTC)


@pytest.mark.parametrize(
    ("due", "now", "text"),
    [
        # 00:00 Shanghai is the end of the previous day.
        (datetime(2026, 12, 11, 16, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC), "12月11日24时"),
        (datetime(2026, 12, 2, 2, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC), "12月2日10时"),
        (
            datetime(2026, 12, 2, 2, 30, tzinfo=UTC),
            datetime(2026, 12, 1, tzinfo=UTC),
            "12月2日10时30分",
        ),
        # across New Year the year is said; 31 Dec 24:00 stays in the old year
        (datetime(2027, 1, 4, 16, tzinfo=UTC), DEC_20, "2027年1月4日24时"),
        (datetime(2026, 12, 31, 16, tzinfo=UTC), DEC_20, "12月31日24时"),
    ],
)
def test_deadlines_read_as_a_chinese_customer_expects(
    due: datetime, now: datetime, text: str
) -> None:
    assert domain.deadline_text(due, now) == text


def test_send_retries_back_off_and_cap() -> None:
    assert [domain.retry_delay_s(n, 5) for n in (1, 2, 3)] == [5, 10, 20]
    assert domain.retry_delay_s(30, 5) == 3600
