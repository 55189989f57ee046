"""Seed 004 §2.5 (每次每单): limits per refund on each ticket, with the anti-splitting guard
(same ticket, same requester, 24 hours) and the cumulative reading as an option."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.refund.authority import (
    AuthorityPolicy,
    Role,
    authority_base,
    decide_on_request,
)

NOW = datetime(2026, 12, 3, 10, tzinfo=UTC)


@dataclass(frozen=True)
class Row:
    amount_fen: int
    requested_by: str
    requested_at: datetime
    kind: str = "refund"
    status: str = "approved"


def _decide(
    rows: list[Row],
    requester: str,
    amount: int,
    user_type: str = "prepaid",
    role: Role = Role.FRONTLINE,
    policy: AuthorityPolicy = AuthorityPolicy(),
) -> str:
    base = authority_base(rows, requester_id=requester, now=NOW, policy=policy)
    return decide_on_request(
        requester_role=role,
        requester_id=requester,
        existing_total=base,
        amount=amount,
        kind="refund",
        user_type=user_type,
        charge_type="monternet",
        policy=policy,
    ).required_role.value


def test_two_80_yuan_refunds_by_one_agent_within_24_hours_need_a_room_manager() -> None:
    rows = [Row(8_000, "fl-li", NOW - timedelta(hours=23))]
    assert _decide(rows, "fl-li", 8_000) == "room_manager"


def test_the_same_two_refunds_by_different_agents_on_different_days_stay_front_line() -> None:
    assert _decide([Row(8_000, "fl-zhao", NOW - timedelta(days=2))], "fl-li", 8_000) == "frontline"
    # the same agent, but more than 24 hours apart
    assert _decide([Row(8_000, "fl-li", NOW - timedelta(hours=25))], "fl-li", 8_000) == "frontline"


def test_rejected_refunds_do_not_count_and_600_yuan_needs_a_centre_manager() -> None:
    rows = [Row(8_000, "fl-li", NOW, status="rejected")]
    assert _decide(rows, "fl-li", 8_000) == "frontline"
    assert _decide([], "rm-wu", 60_000, role=Role.ROOM_MANAGER) == "centre_manager"


def test_a_postpaid_customers_50_yuan_is_outside_front_line_authority() -> None:
    assert _decide([], "fl-li", 5_000, user_type="postpaid") == "room_manager"


def test_the_cumulative_reading_and_a_disabled_guard_are_configuration() -> None:
    rows = [Row(8_000, "fl-zhao", NOW - timedelta(days=3))]
    assert _decide(rows, "fl-li", 8_000, policy=AuthorityPolicy(basis="cumulative")) == (
        "room_manager"
    )
    same = [Row(8_000, "fl-li", NOW)]
    assert _decide(same, "fl-li", 8_000, policy=AuthorityPolicy(anti_split_hours=None)) == (
        "frontline"
    )
