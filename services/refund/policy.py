"""Refund authority as typed data (处理权限, seed 004 §2.5): the one home of its numbers.

Overrides: `REFUND_AUTHORITY__...` (nested env, e.g. `REFUND_AUTHORITY__FRONT_LINE_FEN=5000`,
sets and dicts as JSON) replace the defaults; at run time ops change the policy with the
audited `PUT /v1/refunds/policy`. A complaint is judged under the policy in force when it was
received, and each refund records the version it was decided under (`policy_version`), so its
approval later follows the same rule.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator


class RefundKind(StrEnum):
    """How the customer is conceded money (the mechanism, not what the charge was for)."""

    REFUND = "refund"
    DOUBLE_REFUND = "double_refund"
    PROVISIONAL = "provisional"
    WAIVER = "waiver"


_CODE = re.compile(r"[a-z0-9_]{1,32}")
CEILING_FEN = 10**12
"""No limit or amount above 10,000,000,000.00 CNY: keeps doubled amounts inside BIGINT."""


class ChargeType(BaseModel):
    """What the refunded charge was for, and whether front-line staff may refund it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(min_length=1, max_length=40, description="Display name (Chinese)")
    front_line: bool = False


DEFAULT_CHARGE_TYPES: dict[str, ChargeType] = {
    # Seed 004 §2.5: 操作退费的投诉类型主要包括梦网、营销方案漏赠送等 (front line, ≤ 100 CNY).
    "monternet": ChargeType(name="梦网业务费", front_line=True),
    "missed_promotion": ChargeType(name="营销方案漏赠送", front_line=True),
    # Other charges a complaint disputes (DOMAIN.md taxonomy): room manager and above.
    "call": ChargeType(name="通话费"),
    "data": ChargeType(name="流量费"),
    "package": ChargeType(name="套餐费"),
    "other": ChargeType(name="其他费用"),
}


class AuthorityPolicy(BaseModel):
    """Authority limits, who holds them, for which customers and charges; seed 004 §2.5 and
    seed 002 defaults. Limits are inclusive fen."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)
    front_line_fen: int = Field(10_000, gt=0, le=CEILING_FEN)
    """每次每单在100元以下(含100元): front-line staff (seed 004 §2.5)."""
    room_manager_fen: int = Field(50_000, gt=0, le=CEILING_FEN)
    """每次每单争议费用在500元以下(含500元): room manager (室经理, seed 004 §2.5)."""
    centre_manager_fen: int = Field(200_000, gt=0, le=CEILING_FEN)
    """在2000元以下(含2000元): centre / regional branch manager; above: leadership (004 §2.5)."""
    front_line_user_types: frozenset[str] = frozenset({"prepaid"})
    """仅限智能网用户: front-line authority for prepaid customers only (seed 004 §2.5)."""
    charge_types: dict[str, ChargeType] = Field(
        default_factory=lambda: dict(DEFAULT_CHARGE_TYPES), min_length=1, max_length=100
    )
    """What a refund may be for; `front_line` ones are the seed's 梦网、营销方案漏赠送 (§2.5).
    A refund that names no charge type never falls to the front line."""
    sp_charge_type: str = Field("monternet", min_length=1, max_length=32)
    """The charge type of an SP dispute's provisional refund (seed 002: 代收费用, SP/梦网)."""
    front_line_kinds: frozenset[RefundKind] = frozenset(
        {RefundKind.REFUND, RefundKind.DOUBLE_REFUND, RefundKind.PROVISIONAL}
    )
    """Front-line staff may 操作退费 (refund) only; 减免 (waiver) is granted from the room
    manager up (seed 004 §2.5: 室经理有处理和减免权限)."""
    front_line_aliases: frozenset[str] = frozenset({"agent"})
    """JWT roles that hold front-line authority (hotline agents: 所有一线人员, §2.5)."""
    basis: Literal["per_refund", "cumulative"] = "per_refund"
    """每次每单 (seed 004 §2.5): each refund on each ticket. `cumulative`: the complaint's total."""
    anti_split_hours: int | None = Field(24, ge=1, le=24 * 31)
    """Under `per_refund`, refunds on one ticket by one requester within this many hours count
    together, so a refund cannot be split under a limit (no seed number; None: off)."""
    double_refund_factor: int = Field(2, ge=1, le=10)
    """Unauthorised SP subscriptions are commonly refunded double (双倍返还, seed 002)."""
    system_kinds: frozenset[RefundKind] = frozenset({RefundKind.PROVISIONAL})
    """Kinds the system requests and the system authority approves: the provisional refund of
    a paid SP charge after the proof window (seed 002: 代理方应先行向用户做暂退费处理)."""
    system_approver: str = Field("policy:sp_provisional_refund", min_length=1, max_length=64)
    """Who the audit names as approver of a system-approved refund (never the requester)."""
    max_amount_fen: int = Field(100_000_000, gt=0, le=CEILING_FEN)
    """1,000,000.00 CNY: an input ceiling, not a seed rule (above it an amount is absurd)."""

    @field_validator("room_manager_fen", "centre_manager_fen")
    @classmethod
    def _increasing(cls, value: int, info: ValidationInfo) -> int:
        below = {"room_manager_fen": "front_line_fen", "centre_manager_fen": "room_manager_fen"}
        lower = info.data.get(below[str(info.field_name)])
        if lower is not None and value <= lower:
            raise ValueError(f"must be greater than {below[str(info.field_name)]} ({lower})")
        return value

    @field_validator("charge_types")
    @classmethod
    def _codes(cls, value: dict[str, ChargeType]) -> dict[str, ChargeType]:
        bad = [code for code in value if not _CODE.fullmatch(code)]
        if bad:
            raise ValueError(f"codes must be 1-32 of a-z, 0-9 and _: {bad[0]!r}")
        return value

    @field_validator("sp_charge_type")
    @classmethod
    def _known_charge_type(cls, value: str, info: ValidationInfo) -> str:
        known = info.data.get("charge_types")
        if known is not None and value not in known:
            raise ValueError(f"must be one of charge_types ({', '.join(known)})")
        return value

    def limit_of(self, role: str) -> int | None:
        """The inclusive limit of an authority role in fen; None means unlimited."""
        return {
            "frontline": self.front_line_fen,
            "room_manager": self.room_manager_fen,
            "centre_manager": self.centre_manager_fen,
        }.get(role)

    def front_line_charge(self, charge_type: str | None) -> bool:
        known = self.charge_types.get(charge_type or "")
        return known is not None and known.front_line


DEFAULT_POLICY = AuthorityPolicy()
