"""Notify rules: quiet hours, the per-customer rate limit, survey replies, how values read in
Chinese. No I/O."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

CLOCK_NAMES = {
    "acceptance": "受理时限",
    "first_reply": "首次答复时限",
    "resolution": "办结时限",
    "regulator": "申诉答复时限",
    "initial_investigation": "初步调查时限",
    "confirmation": "确认时限",
    "detailed_investigation": "详细调查时限",
    "closed_loop": "闭环时限",
    "result_feedback": "结果反馈时限",
    "archive": "归档时限",
    "sp_acknowledge": "SP投诉受理时限",
    "sp_answer": "SP投诉答复时限",
    "agent_promise": "承诺答复时限",
}
PROVISIONAL_CAVEAT = "如遇节假日安排调整，以实际为准"
"""Said with a deadline on a calendar not yet published (next year's holidays)."""


@dataclass(frozen=True)
class QuietHours:
    """A daily window (local time) in which non-urgent customer SMS wait; may span midnight."""

    start: time
    end: time
    timezone: str = "Asia/Shanghai"

    def until(self, now: datetime) -> datetime | None:
        """The end of the quiet window `now` falls in (UTC), or None outside quiet hours."""
        if self.start == self.end:
            return None
        tz = ZoneInfo(self.timezone)
        local = now.astimezone(tz)
        t = local.timetz().replace(tzinfo=None)
        if self.start < self.end:
            inside = self.start <= t < self.end
            end_day = local.date()
        else:
            inside = t >= self.start or t < self.end
            end_day = local.date() + timedelta(days=1) if t >= self.start else local.date()
        if not inside:
            return None
        return datetime.combine(end_day, self.end, tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True)
class ContactPolicy:
    quiet: QuietHours
    rate_limit_count: int
    rate_limit_window_s: int

    def rate_limited_until(
        self, now: datetime, recent_sends: Iterable[datetime]
    ) -> datetime | None:
        """When the next SMS may go if the customer already had the limit within the window."""
        window = timedelta(seconds=self.rate_limit_window_s)
        inside = sorted(t for t in recent_sends if t > now - window)
        if len(inside) < self.rate_limit_count:
            return None
        return inside[-self.rate_limit_count] + window


@dataclass(frozen=True)
class SendDecision:
    """What the dispatcher does with a due notification now."""

    action: str  # "send" | "defer" | "suppress"
    until: datetime | None = None
    reason: str | None = None


def decide(
    *,
    now: datetime,
    channel: str,
    urgent: bool,
    required: bool,
    opted_out: bool,
    recent_sends: Iterable[datetime],
    policy: ContactPolicy,
) -> SendDecision:
    """Opt-out (unless the rules require the message), quiet hours and rate limit (unless
    urgent) for customer SMS; internal e-mail always goes."""
    if channel != "sms":
        return SendDecision("send")
    if opted_out and not required:
        return SendDecision("suppress", reason="customer opted out")
    if urgent:
        return SendDecision("send")
    if (quiet_end := policy.quiet.until(now)) is not None:
        return SendDecision("defer", quiet_end, "quiet hours")
    if (free_at := policy.rate_limited_until(now, recent_sends)) is not None:
        return SendDecision("defer", free_at, "rate limit")
    return SendDecision("send")


SURVEY_ANSWERS: dict[str, int] = {
    "1": 4, "满意": 4, "非常满意": 5, "很满意": 5, "一般": 3, "还行": 3, "基本满意": 3,
    "2": 1, "不满意": 1, "非常不满意": 1, "很不满意": 1,
}  # fmt: skip
"""What customers type in answer to the survey, and the 1-5 score it stands for."""
SATISFIED_FROM = 3
"""A score from this up closes the complaint; below it reopens it (一般 is not a complaint)."""


@dataclass(frozen=True)
class SurveyAnswer:
    satisfied: bool
    score: int


def parse_survey_answer(text: str) -> SurveyAnswer | None:
    """'1'/'满意'/'非常满意'/'一般' satisfied, '2'/'不满意' not (full width, spaces and a
    trailing full stop allowed); None for anything else (the customer is asked again)."""
    answer = "".join(unicodedata.normalize("NFKC", text).split()).rstrip("。.!！~")
    score = SURVEY_ANSWERS.get(answer)
    return None if score is None else SurveyAnswer(score >= SATISFIED_FROM, score)


def parse_survey_reply(text: str) -> bool | None:
    """Satisfied or not, or None when the reply is no survey answer."""
    answer = parse_survey_answer(text)
    return None if answer is None else answer.satisfied


def result_for_sms(text: str | None, max_chars: int) -> str:
    """The resolution as the result SMS carries it: cut at `max_chars` with a pointer to
    10086 for the rest, or the pointer alone when there is none."""
    if not text or not text.strip():
        return "详情请咨询10086"
    clean = " ".join(text.split()).rstrip("。")
    if len(clean) <= max_chars:
        return clean
    return clean[: max_chars - 1] + "…（详情请咨询10086）"


def local_time_text(at: datetime, timezone: str = "Asia/Shanghai") -> str:
    """11月23日 15:00 (local time, for customer text)."""
    local = at.astimezone(ZoneInfo(timezone))
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def deadline_text(at: datetime, now: datetime, timezone: str = "Asia/Shanghai") -> str:
    """A deadline as a customer reads it: 00:00 is the previous day's 24时 ("12月11日24时"),
    other times "12月11日10时" or "12月11日10时30分"; the year only when it is not this
    year's ("2027年1月5日24时")."""
    tz = ZoneInfo(timezone)
    local = at.astimezone(tz)
    if (local.hour, local.minute) == (0, 0):
        day, clock = (local - timedelta(days=1)).date(), "24时"
    else:
        day = local.date()
        clock = f"{local.hour}时" + (f"{local.minute}分" if local.minute else "")
    year = f"{day.year}年" if day.year != now.astimezone(tz).year else ""
    return f"{year}{day.month}月{day.day}日{clock}"


def yuan(fen: int) -> str:
    """15050 -> '150.50'."""
    whole, part = divmod(abs(fen), 100)
    return f"{'-' if fen < 0 else ''}{whole}.{part:02d}"


def clock_name(name: str) -> str:
    """The clock's Chinese name (受理时限 ...); an unknown clock reads as 处理时限, never a code."""
    return CLOCK_NAMES.get(name, "处理时限")


def retry_delay_s(attempts: int, base_s: float) -> float:
    """Backoff between send attempts of one notification: base, 2x, 4x ... capped at 1 h."""
    return float(min(base_s * 2 ** max(attempts - 1, 0), 3600.0))


def resend_when_uncertain(
    *, channel: str, required: bool, uncertain_sends: int, resend_max: int
) -> bool:
    """Whether a message that may or may not have reached the gateway is sent again: only a
    message the rules require (a second copy beats none) or an e-mail (re-sent with the same
    Message-ID), and at most `resend_max` times; the others stay `unknown`."""
    return (required or channel == "email") and uncertain_sends < resend_max
