"""Webhook delivery rules: the Standard Webhooks retry schedule with jitter, Retry-After, and
when a failing endpoint is disabled. No I/O."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

SCHEDULE_S = (0, 5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
"""Delay before attempt n (immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h): the
schedule the Standard Webhooks reference implementations use. After the last, it failed."""
JITTER = 0.1


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    retry_after: str | None = None
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class Verdict:
    delivered: bool
    next_attempt_at: datetime | None
    """None and not delivered: the delivery failed for good."""
    disable_reason: str | None = None


def retry_after_s(header: str | None, now: datetime) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), if it parses."""
    if not header:
        return None
    header = header.strip()
    if header.isdigit():
        return float(header)
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max((when - now).total_seconds(), 0.0)


def next_delay_s(round_attempts: int, rng: random.Random) -> float | None:
    """The jittered delay after the `round_attempts`-th failure, or None when exhausted."""
    if round_attempts >= len(SCHEDULE_S):
        return None
    base = SCHEDULE_S[round_attempts]
    return base * rng.uniform(1 - JITTER, 1 + JITTER)


def judge(
    result: AttemptResult,
    *,
    round_attempts: int,
    now: datetime,
    failing_since: datetime | None,
    disable_after_s: float,
    max_retry_after_s: float,
    rng: random.Random,
) -> Verdict:
    """What follows one attempt (`round_attempts` counts it)."""
    if result.succeeded:
        return Verdict(True, None)
    if result.status_code == 410:
        return Verdict(False, None, "the endpoint answered 410 Gone")
    since = failing_since or now
    if (now - since).total_seconds() >= disable_after_s:
        days = disable_after_s / 86400
        return Verdict(False, None, f"every delivery failed for {days:g} days")
    delay = next_delay_s(round_attempts, rng)
    if delay is None:
        return Verdict(False, None)
    asked = retry_after_s(result.retry_after, now)
    if asked is not None and result.status_code in (429, 503):
        delay = max(delay, min(asked, max_retry_after_s))
    return Verdict(False, now + timedelta(seconds=delay))
