"""The time the dispatcher and the webhook sender act on: injectable, so tests can stand at
23:00 or five days later without waiting."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from shared.db import utcnow


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return utcnow()


class ManualClock:
    """A clock that moves only when told (tests and benchmarks)."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> datetime:
        self.at += timedelta(**delta)
        return self.at
