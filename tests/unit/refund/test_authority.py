"""Refund authority: the seed 004 §2.5 ladder, the cumulative rule, four eyes, amounts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import ValidationError

from services.refund.authority import (
    AmountError,
    AuthorityPolicy,
    Decision,
    FieldError,
    FourEyesViolation,
    InsufficientAuthority,
    Outcome,
    RefundKind,
    Role,
    UserType,
    authority_role,
    check_approval,
    complaint_total,
    decide_on_request,
    may_approve,
    parse_refund_amount,
    required_role,
)

PRE, POST = UserType.PREPAID, UserType.POSTPAID
FRONT, ROOM, CENTRE, LEAD = Role.FRONTLINE, Role.ROOM_MANAGER, Role.CENTRE_MANAGER, Role.LEADERSHIP


MONTERNET = "monternet"  # a 梦网 charge: one the front line may refund (seed 004 §2.5)


def yuan(text: str) -> int:
    return parse_refund_amount(text)


@pytest.mark.parametrize(
    ("total", "user_type", "needed"),
    [
        ("0.01", PRE, FRONT),
        ("100.00", PRE, FRONT),
        ("100.01", PRE, ROOM),
        ("0.01", POST, ROOM),
        ("100.00", POST, ROOM),
        ("100.00", None, ROOM),
        ("500.00", PRE, ROOM),
        ("500.00", POST, ROOM),
        ("500.01", PRE, CENTRE),
        ("500.01", POST, CENTRE),
        ("2000.00", POST, CENTRE),
        ("2000.01", POST, LEAD),
        ("2000.01", PRE, LEAD),
        ("1000000.00", POST, LEAD),
    ],
)
def test_the_least_role_that_may_approve_follows_the_inclusive_ladder(
    total: str, user_type: UserType | None, needed: Role
) -> None:
    assert required_role(yuan(total), user_type, charge_type=MONTERNET) is needed


MATRIX = [
    # total, user type, roles that may approve
    ("100.00", PRE, {FRONT, ROOM, CENTRE, LEAD}),
    ("100.01", PRE, {ROOM, CENTRE, LEAD}),
    ("100.00", POST, {ROOM, CENTRE, LEAD}),
    ("500.00", PRE, {ROOM, CENTRE, LEAD}),
    ("500.01", PRE, {CENTRE, LEAD}),
    ("2000.00", POST, {CENTRE, LEAD}),
    ("2000.01", POST, {LEAD}),
]


@pytest.mark.parametrize(("total", "user_type", "allowed"), MATRIX)
@pytest.mark.parametrize("role", [None, *Role])
def test_each_role_may_approve_exactly_up_to_its_limit(
    role: Role | None, total: str, user_type: UserType, allowed: set[Role]
) -> None:
    assert may_approve(role, yuan(total), user_type, charge_type=MONTERNET) is (role in allowed)


def test_room_manager_cannot_approve_600_yuan() -> None:
    assert not may_approve(ROOM, yuan("600.00"), POST)


def test_frontline_may_refund_small_amounts_to_prepaid_customers_only() -> None:
    assert may_approve(FRONT, yuan("50.00"), PRE, charge_type=MONTERNET)
    assert not may_approve(FRONT, yuan("50.00"), POST, charge_type=MONTERNET)
    assert not may_approve(FRONT, yuan("50.00"), None, charge_type=MONTERNET)


def test_frontline_may_not_waive_even_a_small_prepaid_charge() -> None:
    m = MONTERNET
    assert required_role(yuan("10.00"), PRE, kind=RefundKind.WAIVER, charge_type=m) is ROOM
    assert may_approve(FRONT, yuan("10.00"), PRE, kind=RefundKind.PROVISIONAL, charge_type=m)


@pytest.mark.parametrize("charge", ["monternet", "missed_promotion"])
def test_the_front_line_refunds_the_seeds_charge_types(charge: str) -> None:
    assert required_role(yuan("100.00"), PRE, charge_type=charge) is FRONT


@pytest.mark.parametrize("charge", ["call", "data", "package", "other", None])
def test_other_charge_types_or_none_stated_need_a_room_manager(charge: str | None) -> None:
    assert required_role(yuan("0.01"), PRE, charge_type=charge) is ROOM
    assert not may_approve(FRONT, yuan("0.01"), PRE, charge_type=charge)


def test_the_front_line_charge_types_are_data() -> None:
    policy = AuthorityPolicy.model_validate(
        {
            "charge_types": {
                "monternet": {"name": "梦网业务费"},
                "call": {"name": "通话费", "front_line": True},
            }
        }
    )
    assert required_role(yuan("1.00"), PRE, charge_type="call", policy=policy) is FRONT
    assert required_role(yuan("1.00"), PRE, charge_type="monternet", policy=policy) is ROOM


def test_an_unknown_charge_type_is_refused_naming_the_field() -> None:
    with pytest.raises(FieldError) as caught:
        request(charge_type="lottery")
    assert caught.value.field == "charge_type" and "monternet" in caught.value.message


def test_limits_are_configuration() -> None:
    policy = AuthorityPolicy(front_line_fen=5_000, front_line_user_types=frozenset({POST}))
    m = MONTERNET
    assert required_role(yuan("50.00"), POST, charge_type=m, policy=policy) is FRONT
    assert required_role(yuan("50.01"), POST, charge_type=m, policy=policy) is ROOM
    assert required_role(yuan("50.00"), PRE, charge_type=m, policy=policy) is ROOM


def test_a_policy_with_limits_out_of_order_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        AuthorityPolicy(room_manager_fen=300_000)
    [error] = caught.value.errors()
    assert error["loc"] == ("centre_manager_fen",)
    assert "greater than room_manager_fen (300000)" in error["msg"]
    with pytest.raises(ValidationError) as caught:
        AuthorityPolicy(front_line_fen=50_000)
    assert [e["loc"] for e in caught.value.errors()] == [("room_manager_fen",)]


def request(**overrides: Any) -> Decision:
    """A prepaid refund asked for by a front-line agent, as decided; override any argument."""
    args: dict[str, Any] = {
        "requester_role": FRONT,
        "requester_id": "agent-7",
        "existing_total": 0,
        "amount": yuan("1.00"),
        "kind": RefundKind.REFUND,
        "user_type": PRE,
        "charge_type": MONTERNET,
    }
    args.update(overrides)
    return decide_on_request(**args)


def test_a_request_within_the_requesters_authority_is_approved_at_once() -> None:
    decision = request(amount=yuan("100.00"))
    assert decision.outcome is Outcome.APPROVED and decision.approved
    assert decision.total_fen == 10_000 and decision.required_role is FRONT


def test_a_request_beyond_the_requesters_authority_waits_for_the_named_role() -> None:
    decision = request(amount=yuan("100.01"))
    assert decision.outcome is Outcome.PENDING_APPROVAL and not decision.approved
    assert decision.required_role is ROOM


def test_three_100_yuan_refunds_on_one_complaint_need_a_room_manager() -> None:
    total, outcomes = 0, []
    for _ in range(3):
        decision = request(existing_total=total, amount=yuan("100.00"))
        outcomes.append(decision.outcome)
        total = decision.total_fen
    assert outcomes == [Outcome.APPROVED, Outcome.PENDING_APPROVAL, Outcome.PENDING_APPROVAL]
    assert decision.total_fen == 30_000 and decision.required_role is ROOM


def test_a_room_manager_cannot_pass_500_yuan_in_two_requests() -> None:
    first = request(requester_role=ROOM, amount=yuan("500.00"), user_type=POST)
    second = request(
        requester_role=ROOM, existing_total=first.total_fen, amount=yuan("1.00"), user_type=POST
    )
    assert first.approved and not second.approved and second.required_role is CENTRE


def test_pending_refunds_count_and_rejected_ones_do_not() -> None:
    @dataclass
    class Row:
        kind: str
        amount_fen: int
        status: str

    rows = [
        Row("refund", 10_000, "approved"),
        Row("double_refund", 5_000, "pending_approval"),
        Row("waiver", 2_000, "approved"),
        Row("refund", 90_000, "rejected"),
    ]
    assert complaint_total(rows) == 10_000 + 10_000 + 2_000


def test_a_waiver_counts_toward_the_complaint_total() -> None:
    decision = request(
        requester_role=ROOM,
        existing_total=yuan("400.00"),
        amount=yuan("100.01"),
        kind=RefundKind.WAIVER,
        user_type=POST,
    )
    assert decision.total_fen == 50_001 and decision.required_role is CENTRE
    assert decision.outcome is Outcome.PENDING_APPROVAL


def test_a_double_refund_needs_authority_for_twice_the_charge() -> None:
    at_limit = request(amount=yuan("50.00"), kind=RefundKind.DOUBLE_REFUND)
    assert at_limit.approved and at_limit.counted_fen == 10_000
    over = request(amount=yuan("50.01"), kind="double_refund")
    assert over.amount_fen == 5_001 and over.counted_fen == 10_002
    assert not over.approved and over.required_role is ROOM


def test_a_double_refund_of_a_250_01_charge_needs_a_centre_manager() -> None:
    at_limit = request(
        requester_role=ROOM, amount=yuan("250.00"), kind=RefundKind.DOUBLE_REFUND, user_type=POST
    )
    over = request(
        requester_role=ROOM, amount=yuan("250.01"), kind=RefundKind.DOUBLE_REFUND, user_type=POST
    )
    assert at_limit.approved and at_limit.required_role is ROOM
    assert not over.approved and over.required_role is CENTRE


def test_staff_without_refund_authority_can_only_ask() -> None:
    decision = request(requester_role=None, requester_id="ops-1", amount=1)
    assert decision.outcome is Outcome.PENDING_APPROVAL and decision.required_role is FRONT


def _pending(amount: str) -> Decision:
    """A postpaid refund a room manager asked for."""
    return request(requester_role=ROOM, requester_id="rm-1", amount=yuan(amount), user_type=POST)


def test_a_centre_manager_approves_what_a_room_manager_asked_for() -> None:
    refund = _pending("1500.00")
    check_approval(approver_role=CENTRE, approver_id="cm-1", requester_id="rm-1", refund=refund)


def test_a_requester_never_approves_their_own_refund_even_with_enough_authority() -> None:
    refund = _pending("600.00")
    with pytest.raises(FourEyesViolation) as caught:
        check_approval(approver_role=LEAD, approver_id="rm-1", requester_id="rm-1", refund=refund)
    assert caught.value.required_role is CENTRE
    assert "centre_manager" in str(caught.value)


@pytest.mark.parametrize(
    ("amount", "approver", "needed"),
    [("500.01", ROOM, CENTRE), ("2000.01", CENTRE, LEAD), ("100.00", FRONT, ROOM)],
)
def test_an_approver_without_enough_authority_is_told_which_role_is_needed(
    amount: str, approver: Role, needed: Role
) -> None:
    refund = _pending(amount)
    with pytest.raises(InsufficientAuthority) as caught:
        check_approval(
            approver_role=approver, approver_id="x-2", requester_id="rm-1", refund=refund
        )
    assert caught.value.required_role is needed
    assert needed.value in str(caught.value) and amount in str(caught.value)


def test_an_approver_with_no_refund_role_is_refused() -> None:
    with pytest.raises(InsufficientAuthority, match="no refund authority"):
        check_approval(
            approver_role=None, approver_id="ops-1", requester_id="rm-1", refund=_pending("1.00")
        )


def test_hotline_agents_hold_frontline_authority_and_the_highest_role_wins() -> None:
    assert authority_role(["agent"]) is FRONT
    assert authority_role(["frontline", "centre_manager", "ops"]) is CENTRE
    assert authority_role(["ops", "billing"]) is None


@pytest.mark.parametrize(("text", "fen"), [("0.01", 1), ("100.00", 10_000), ("1000000.00", 10**8)])
def test_amounts_parse_to_fen(text: str, fen: int) -> None:
    assert parse_refund_amount(text) == fen


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0.00", "greater than 0.00"),
        ("-1.00", "negative"),
        ("1.005", "more than two decimal places"),
        ("100", "exactly two decimal places"),
        ("100.5", "exactly two decimal places"),
        ("1000000.01", "must not exceed 1000000.00"),
        ("99999999999.00", "must not exceed 1000000.00"),
        ("1e3", "decimal string"),
        ("", "decimal string"),
        (150, "decimal string"),
    ],
)
def test_bad_amounts_are_refused_naming_the_field(text: object, message: str) -> None:
    with pytest.raises(AmountError) as caught:
        parse_refund_amount(text, field="refund.amount")
    assert caught.value.field == "refund.amount"
    assert message in caught.value.message
    assert str(caught.value).startswith("refund.amount: ")


@pytest.mark.parametrize(
    ("amount", "message"), [(0, "greater"), (-5, "negative"), (10**8 + 1, "exceed")]
)
def test_requests_with_bad_fen_amounts_are_refused(amount: int, message: str) -> None:
    with pytest.raises(AmountError, match=message) as caught:
        request(amount=amount)
    assert caught.value.field == "amount"


def test_a_negative_existing_total_is_refused() -> None:
    with pytest.raises(AmountError) as caught:
        request(existing_total=-1)
    assert caught.value.field == "existing_total"
