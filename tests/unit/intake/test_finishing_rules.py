"""When a closed complaint is archived (working days) and when its retention ends."""

from __future__ import annotations

from datetime import UTC, datetime

from services.intake import domain
from services.intake.lifecycle import (
    SYSTEM_COMMANDS,
    IllegalTransition,
    allowed_commands,
    next_status,
)
from shared.time import SHANGHAI


def _sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def test_a_friday_close_is_archived_at_the_end_of_the_third_working_day_after_it() -> None:
    assert domain.archive_due(_sh(2026, 12, 4, 10), 3) == _sh(2026, 12, 10).astimezone(UTC)


def test_the_national_day_holiday_does_not_count_and_the_make_up_saturday_does() -> None:
    # 2026: 1-7 October off, Saturday 10 October a make-up working day
    assert domain.archive_due(_sh(2026, 9, 30, 18), 3) == _sh(2026, 10, 11).astimezone(UTC)


def test_a_year_without_an_official_arrangement_counts_monday_to_friday() -> None:
    assert domain.archive_due(_sh(2031, 1, 3, 9), 1) == _sh(2031, 1, 7).astimezone(UTC)


def test_retention_counts_calendar_years_and_survives_29_february() -> None:
    assert domain.retention_cutoff(_sh(2029, 5, 1), 3) == _sh(2026, 5, 1)
    assert domain.retention_cutoff(_sh(2028, 2, 29), 3) == _sh(2025, 2, 28)


def test_an_archived_complaint_allows_no_command_and_system_commands_are_not_offered() -> None:
    assert allowed_commands("archived") == []
    assert not SYSTEM_COMMANDS & set(allowed_commands("resolved"))
    assert next_status("close_unanswered", "resolved").to == "closed"
    assert next_status("archive", "closed").to == "archived"
    for command in ("accept", "resolve", "feedback", "cancel", "archive"):
        try:
            next_status(command, "archived")  # type: ignore[arg-type]
        except IllegalTransition as exc:
            assert exc.allowed == []
        else:
            raise AssertionError(f"{command} applied to an archived complaint")
