"""Refund authority (处理权限, seed 004 §2.5): who may approve how much. Pure rules, no I/O.

Amounts are integer fen. Limits are inclusive and apply per refund on each ticket (每次每单,
seed 004 §2.5; `AuthorityPolicy.basis`). An anti-splitting guard (default on) counts the same
requester's refunds on the same ticket within 24 hours together, so splitting 300 CNY into
three 100 CNY requests still needs a room manager; with `basis="cumulative"` the whole
complaint's approved and pending refunds count.

What counts toward the total is what the customer is conceded (`counted_fen`):
- `refund` and `provisional` (SP could not prove the charge within 15 days): the amount;
- `double_refund` (unauthorised SP subscription, 双倍返还): twice the charge;
- `waiver` (disputed charge not collected): the amount. The seed grants room managers and
  above "处理和减免权限" over disputed amounts, so a waived charge is a concession like a
  refund and counts. Front-line staff may only "操作退费" (refund), so by default a waiver
  needs at least a room manager even when small (`AuthorityPolicy.front_line_kinds`).

Front-line authority also needs a prepaid customer and a charge type the policy marks
`front_line` (梦网, 营销方案漏赠送: seed 004 §2.5); any other charge needs a room manager.
The numbers live in services/refund/policy.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from services.refund.policy import DEFAULT_POLICY as DEFAULT_POLICY
from services.refund.policy import AuthorityPolicy as AuthorityPolicy
from services.refund.policy import RefundKind as RefundKind
from shared.money import format_fen, parse_amount


class Role(StrEnum):
    """Refund authority tiers, lowest first (names match the JWT roles in shared.auth)."""

    FRONTLINE = "frontline"
    ROOM_MANAGER = "room_manager"
    CENTRE_MANAGER = "centre_manager"
    LEADERSHIP = "leadership"


ROLE_ORDER: tuple[Role, ...] = tuple(Role)


class UserType(StrEnum):
    PREPAID = "prepaid"  # 智能网
    POSTPAID = "postpaid"


class Outcome(StrEnum):
    APPROVED = "approved"
    PENDING_APPROVAL = "pending_approval"


class RefundRuleError(Exception):
    """A refund request or decision broke a business rule."""


class FieldError(RefundRuleError, ValueError):
    """An input is invalid; `field` names it (for problem+json `errors`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class AmountError(FieldError):
    """An amount is malformed, not positive, or beyond the ceiling."""


class AuthorityError(RefundRuleError):
    """An approval was refused; `required_role` is the least role that could approve."""

    def __init__(self, message: str, *, required_role: Role) -> None:
        super().__init__(message)
        self.required_role = required_role


class InsufficientAuthority(AuthorityError):
    """The approver's authority does not cover the complaint's total."""


class FourEyesViolation(AuthorityError):
    """The requester tried to approve their own refund."""


class AuthorityClaim(Protocol):
    """What an approval is checked against: a Decision or a stored refund row."""

    @property
    def kind(self) -> str: ...
    @property
    def user_type(self) -> str | None: ...
    @property
    def charge_type(self) -> str | None: ...
    @property
    def total_fen(self) -> int: ...


@dataclass(frozen=True)
class Decision:
    """The outcome of a refund request, with the figures it was decided on."""

    outcome: Outcome
    kind: RefundKind
    user_type: str | None
    charge_type: str | None
    requester_id: str
    amount_fen: int  # as requested: the disputed charge
    counted_fen: int  # what it adds to the complaint total (doubled for double_refund)
    total_fen: int  # complaint total including this request
    required_role: Role  # least role whose authority covers total_fen

    @property
    def approved(self) -> bool:
        return self.outcome is Outcome.APPROVED


def check_amount_fen(
    value: object, *, field: str = "amount", policy: AuthorityPolicy = DEFAULT_POLICY
) -> int:
    """An amount in fen that is a positive integer no larger than the policy's ceiling."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise AmountError(field, "must be a whole number of fen")
    if value == 0:
        raise AmountError(field, "must be greater than 0.00")
    if value < 0:
        raise AmountError(field, "must not be negative")
    if value > policy.max_amount_fen:
        raise AmountError(field, f"must not exceed {format_fen(policy.max_amount_fen)} CNY")
    return value


_SHORT_DECIMALS = re.compile(r"\d+(\.\d?)?")
_LONG_DECIMALS = re.compile(r"\d+\.\d{3,}")
_TWO_DECIMALS = re.compile(r"\d+\.\d{2}")


def parse_refund_amount(
    text: object, *, field: str = "amount", policy: AuthorityPolicy = DEFAULT_POLICY
) -> int:
    """'150.00' -> 15000 fen, or AmountError naming `field` and what is wrong."""
    if not isinstance(text, str):
        raise AmountError(field, "must be a decimal string with two places, e.g. '150.00'")
    if text.startswith("-"):
        raise AmountError(field, "must not be negative")
    try:
        fen = parse_amount(text)
    except ValueError as exc:
        raise AmountError(field, _why_malformed(text, policy)) from exc
    return check_amount_fen(fen, field=field, policy=policy)


def _why_malformed(text: str, policy: AuthorityPolicy) -> str:
    if _LONG_DECIMALS.fullmatch(text):
        return "must not have more than two decimal places"
    if _SHORT_DECIMALS.fullmatch(text):
        return "must have exactly two decimal places, e.g. '150.00'"
    if _TWO_DECIMALS.fullmatch(text):  # well formed but too many digits for shared.money
        return f"must not exceed {format_fen(policy.max_amount_fen)} CNY"
    return "must be a decimal string with two places, e.g. '150.00'"


def _check_total(value: object, field: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise AmountError(field, "must be a non-negative whole number of fen")


def as_kind(value: RefundKind | str) -> RefundKind:
    """The refund kind named by `value`, or FieldError naming `kind`."""
    try:
        return RefundKind(value)
    except ValueError:
        raise FieldError("kind", f"must be one of {', '.join(RefundKind)}") from None


def counted_fen(
    kind: RefundKind | str, amount_fen: int, policy: AuthorityPolicy = DEFAULT_POLICY
) -> int:
    """What a request of `amount_fen` adds to the complaint total."""
    if as_kind(kind) is RefundKind.DOUBLE_REFUND:
        return amount_fen * policy.double_refund_factor
    return amount_fen


def as_charge_type(value: str | None, policy: AuthorityPolicy = DEFAULT_POLICY) -> str | None:
    """The charge type named by `value` (None: not stated), or FieldError naming it."""
    if value is not None and value not in policy.charge_types:
        raise FieldError("charge_type", f"must be one of {', '.join(policy.charge_types)}")
    return value


def front_line_may(
    user_type: str | None,
    kind: RefundKind | str,
    charge_type: str | None,
    policy: AuthorityPolicy = DEFAULT_POLICY,
) -> bool:
    """Front-line authority: prepaid customers, refund kinds, the seed's charge types only."""
    return (
        user_type in policy.front_line_user_types
        and as_kind(kind) in policy.front_line_kinds
        and policy.front_line_charge(charge_type)
    )


def required_role(
    total_fen: int,
    user_type: str | None,
    *,
    kind: RefundKind | str = RefundKind.REFUND,
    charge_type: str | None = None,
    policy: AuthorityPolicy = DEFAULT_POLICY,
) -> Role:
    """The least role whose authority covers a complaint total of `total_fen`."""
    _check_total(total_fen, "total_fen")
    front_line = front_line_may(user_type, kind, charge_type, policy)
    tiers = ROLE_ORDER if front_line else ROLE_ORDER[1:]
    for role in tiers:
        limit = policy.limit_of(role)
        if limit is None or total_fen <= limit:
            return role
    raise AssertionError("leadership is unlimited")  # pragma: no cover


def may_approve(
    role: Role | None,
    total_fen: int,
    user_type: str | None,
    *,
    kind: RefundKind | str = RefundKind.REFUND,
    charge_type: str | None = None,
    policy: AuthorityPolicy = DEFAULT_POLICY,
) -> bool:
    """Whether `role` may approve a complaint total of `total_fen`."""
    if role is None:
        return False
    needed = required_role(total_fen, user_type, kind=kind, charge_type=charge_type, policy=policy)
    return ROLE_ORDER.index(role) >= ROLE_ORDER.index(needed)


def authority_role(roles: Iterable[str], policy: AuthorityPolicy = DEFAULT_POLICY) -> Role | None:
    """The highest refund authority among a principal's roles ('agent' is front-line)."""
    found = {Role.FRONTLINE if r in policy.front_line_aliases else r for r in roles}
    held = [role for role in ROLE_ORDER if role in found]
    return held[-1] if held else None


def decide_on_request(
    *,
    requester_role: Role | None,
    requester_id: str,
    existing_total: int,
    amount: int,
    kind: RefundKind | str,
    user_type: str | None,
    charge_type: str | None = None,
    policy: AuthorityPolicy = DEFAULT_POLICY,
) -> Decision:
    """Approve at once if the requester's authority covers the new total, else ask upwards.

    `existing_total` is the complaint's approved plus pending total (see `complaint_total`);
    `amount` is the disputed charge in fen (the payout of a double refund is twice it).
    """
    kind = as_kind(kind)
    charge_type = as_charge_type(charge_type, policy)
    amount = check_amount_fen(amount, field="amount", policy=policy)
    _check_total(existing_total, "existing_total")
    counted = counted_fen(kind, amount, policy)
    total = existing_total + counted
    needed = required_role(total, user_type, kind=kind, charge_type=charge_type, policy=policy)
    own = may_approve(
        requester_role, total, user_type, kind=kind, charge_type=charge_type, policy=policy
    )
    return Decision(
        outcome=Outcome.APPROVED if own else Outcome.PENDING_APPROVAL,
        kind=kind,
        user_type=user_type,
        charge_type=charge_type,
        requester_id=requester_id,
        amount_fen=amount,
        counted_fen=counted,
        total_fen=total,
        required_role=needed,
    )


def check_approval(
    *,
    approver_role: Role | None,
    approver_id: str,
    requester_id: str,
    refund: AuthorityClaim,
    policy: AuthorityPolicy = DEFAULT_POLICY,
) -> None:
    """Raise unless `approver_id` may approve this pending refund (four eyes, then authority).

    A refund reaches approval only because it needed more authority than its requester had,
    so its requester may never approve it, whatever role they hold now.
    """
    total = refund.total_fen
    kind, charge = refund.kind, refund.charge_type
    needed = required_role(total, refund.user_type, kind=kind, charge_type=charge, policy=policy)
    if approver_id == requester_id:
        raise FourEyesViolation(
            f"a refund may not be approved by its requester; it needs someone else "
            f"with {needed} authority or higher",
            required_role=needed,
        )
    if not may_approve(
        approver_role, total, refund.user_type, kind=kind, charge_type=charge, policy=policy
    ):
        held = "no refund authority" if approver_role is None else approver_role.value
        raise InsufficientAuthority(
            f"a complaint total of {format_fen(total)} CNY needs {needed} approval; "
            f"the approver has {held}",
            required_role=needed,
        )


class CountedRefund(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def amount_fen(self) -> int: ...
    @property
    def status(self) -> str: ...


COUNTED_STATUSES = frozenset({Outcome.APPROVED, Outcome.PENDING_APPROVAL, "paid"})


class RequestedRefund(CountedRefund, Protocol):
    @property
    def requested_by(self) -> str: ...
    @property
    def requested_at(self) -> datetime: ...


def authority_base(
    refunds: Iterable[RequestedRefund],
    *,
    requester_id: str,
    now: datetime,
    policy: AuthorityPolicy = DEFAULT_POLICY,
) -> int:
    """What a new request's amount is added to before the limits apply: the complaint's
    total (`cumulative`), or under `per_refund` only the same requester's refunds on this
    ticket within the anti-splitting window (0 when the guard is off)."""
    rows = [r for r in refunds if r.status in COUNTED_STATUSES]
    if policy.basis != "per_refund":
        return complaint_total(rows, policy=policy)
    if policy.anti_split_hours is None:
        return 0
    since = now - timedelta(hours=policy.anti_split_hours)
    return complaint_total(
        (r for r in rows if r.requested_by == requester_id and r.requested_at >= since),
        policy=policy,
    )


def complaint_total(
    refunds: Iterable[CountedRefund],
    *,
    statuses: frozenset[str] = COUNTED_STATUSES,
    policy: AuthorityPolicy = DEFAULT_POLICY,
) -> int:
    """The complaint's total in fen: approved and pending refunds; rejected ones drop out."""
    return sum(counted_fen(r.kind, r.amount_fen, policy) for r in refunds if r.status in statuses)
