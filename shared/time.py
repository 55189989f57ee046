"""Time vocabulary every service shares: instants are UTC, business days are Shanghai's.

Working-day rules (the calendar, SLA limits) are SLA policy and live in `services/sla/`;
this module only knows the zone and how to read an instant in it."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
"""Business time of the 10086 centre (DOMAIN.md: deadlines end at 24:00 Shanghai)."""


def shanghai_date(at: datetime) -> date:
    """The Shanghai calendar day an aware instant falls on."""
    return at.astimezone(SHANGHAI).date()
