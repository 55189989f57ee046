"""Shift boundaries are configuration (default day 08:00-20:00, night 20:00-08:00 Shanghai)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from services.routing.settings import RoutingSettings
from services.routing.staff_alerts import parse_shift_starts, shift_of

SH = ZoneInfo("Asia/Shanghai")
STARTS = parse_shift_starts("20:00, 08:00")


@pytest.mark.parametrize(
    ("hour", "minute", "shift"),
    [(8, 0, "08:00"), (19, 59, "08:00"), (20, 0, "20:00"), (23, 30, "20:00"), (7, 59, "20:00")],
)
def test_a_moment_falls_in_the_day_or_the_night_shift(hour: int, minute: int, shift: str) -> None:
    at = datetime(2026, 12, 3, hour, minute, tzinfo=SH)
    assert shift_of(at, STARTS, "Asia/Shanghai") == shift


def test_the_desks_count_per_configured_shift_and_bad_shifts_are_refused() -> None:
    assert RoutingSettings().surge_config().shift_starts == STARTS
    with pytest.raises(ValueError, match="shift_starts"):
        RoutingSettings(shift_starts="8h")
