"""The monthly report's KPI checks and refund tiers: targets from `ReportTargets` (the
policy in force at the month's end), tiers as the refund service published them (a refund
event carries its authority tier and that tier's limit, so no limit is copied here)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from fastapi import Request
from pydantic import BaseModel, Field

from services.intake.models import PolicyVersion
from services.intake.policy import ReportTargets
from shared.money import format_fen
from shared.policy_store import PolicyStore

UNRECORDED = "unrecorded"
"""The tier of a refund whose events predate tiers on refund events."""


class Rate(BaseModel):
    numerator: int
    denominator: int
    rate: float | None


class RefundTier(BaseModel):
    tier: str = Field(description="The least authority that covered it (frontline ... leadership)")
    up_to: str | None = Field(description="That tier's inclusive limit in CNY (null: none)")
    count: int
    amount_fen: int

    @property
    def label(self) -> str:
        return self.tier if self.up_to is None else f"{self.tier} ≤{self.up_to}"


class SpRate(BaseModel):
    sp_code: str
    complaints: int
    subscribers: int | None
    per_10000_users: float | None


class TargetCheck(BaseModel):
    kpi: str
    target: str
    value: float | None
    passed: bool | None = Field(description="None when there is nothing to measure")


def targets_store(default: ReportTargets) -> PolicyStore[ReportTargets]:
    return PolicyStore("report_targets", ReportTargets, PolicyVersion, default)


def store_of(request: Request) -> PolicyStore[Any]:
    store: PolicyStore[Any] = request.app.state.report_targets
    return store


def refund_tiers(refunds: Iterable[Mapping[str, Any]]) -> list[RefundTier]:
    """Approved and paid refunds by the tier their event named, lowest limit first."""
    tally: dict[tuple[str, int | None], list[int]] = {}
    for refund in refunds:
        if refund.get("status") not in ("approved", "paid"):
            continue
        key = (str(refund.get("tier") or UNRECORDED), refund.get("tier_limit_fen"))
        row = tally.setdefault(key, [0, 0])
        row[0] += 1
        row[1] += int(refund.get("amount_fen", 0))

    def order(key: tuple[str, int | None]) -> tuple[int, int]:
        tier, limit = key
        return (tier == UNRECORDED, limit if limit is not None else 1 << 62)

    return [
        RefundTier(
            tier=tier,
            up_to=None if limit is None else format_fen(limit),
            count=tally[(tier, limit)][0],
            amount_fen=tally[(tier, limit)][1],
        )
        for tier, limit in sorted(tally, key=order)
    ]


def target_checks(
    targets: ReportTargets, timeliness: dict[str, Rate], reply: Rate, sps: list[SpRate]
) -> list[TargetCheck]:
    """Each KPI against its target: 及时率 per clock (> min), 回复率 (>= min), SP rate (< max)."""
    checks = [
        TargetCheck(
            kpi=f"timeliness:{clock}",
            target=f"> {targets.timeliness_min:.0%}",
            value=r.rate,
            passed=None if r.rate is None else r.rate > targets.timeliness_min,
        )
        for clock, r in timeliness.items()
    ]
    checks.append(
        TargetCheck(
            kpi="reply_rate",
            target=f">= {targets.reply_rate_min:.0%}",
            value=reply.rate,
            passed=None if reply.rate is None else reply.rate >= targets.reply_rate_min,
        )
    )
    checks.extend(
        TargetCheck(
            kpi=f"sp_per_10000:{sp.sp_code}",
            target=f"< {targets.sp_per_10000_max:g}",
            value=sp.per_10000_users,
            passed=None
            if sp.per_10000_users is None
            else sp.per_10000_users < targets.sp_per_10000_max,
        )
        for sp in sps
    )
    return checks


def judged_at(end: datetime, now: datetime) -> datetime:
    """A month is judged against the targets in force at its end (now, while it runs)."""
    return min(end, now)


class DepartmentResponse(BaseModel):
    """How a department answered the complaints dispatched to it (seed 004 §3.1:
    派其他部门投诉单的回应处理情况). Hours run from receipt, the customer's wait."""

    department: str
    dispatched: int = Field(description="Handled by this department, not the accepting one")
    replied: int = Field(description="First reply given, at any time")
    replied_in_time: int = Field(description="First reply within its SLA limit")
    resolved: int
    median_hours_to_reply: float | None
    median_hours_to_resolve: float | None


def _hours(start: datetime, end: str | datetime | None) -> float | None:
    if end is None:
        return None
    stop = datetime.fromisoformat(end) if isinstance(end, str) else end
    return (stop - start).total_seconds() / 3600


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    value = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    return round(value, 1)


def department_responses(complaints: Iterable[Any]) -> list[DepartmentResponse]:
    """One row per department that other departments' complaints were dispatched to."""
    rows: dict[str, dict[str, Any]] = {}
    for c in complaints:
        dept = c.handler_department
        if dept is None or dept == c.accepting_department:
            continue
        row = rows.setdefault(dept, {"n": 0, "in_time": 0, "reply": [], "resolve": []})
        row["n"] += 1
        first = next((k for k in c.sla if k.get("name") == "first_reply"), None)
        if first is not None and first.get("met_at"):
            row["reply"].append(_hours(c.received_at, first["met_at"]))
            row["in_time"] += first.get("state") == "met"
        if c.resolved_at is not None:
            row["resolve"].append(_hours(c.received_at, c.resolved_at))
    return [
        DepartmentResponse(
            department=dept,
            dispatched=r["n"],
            replied=len(r["reply"]),
            replied_in_time=r["in_time"],
            resolved=len(r["resolve"]),
            median_hours_to_reply=_median(r["reply"]),
            median_hours_to_resolve=_median(r["resolve"]),
        )
        for dept, r in sorted(rows.items(), key=lambda kv: (-kv[1]["n"], kv[0]))
    ]
