"""The monthly report (通报): what the company-level report shows, from the system of record
and what the other services published about each complaint. JSON, CSV and an HTML page."""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from services.intake.models import Complaint, SurgeSeen
from services.intake.policy import ReportTargets
from services.intake.report_html import to_html
from services.intake.report_kpis import (
    DepartmentResponse,
    Rate,
    RefundTier,
    SpRate,
    TargetCheck,
    department_responses,
    judged_at,
    refund_tiers,
    store_of,
    target_checks,
    targets_store,
)
from services.intake.settings import IntakeSettings
from shared.auth import Principal, require_roles
from shared.db import utcnow
from shared.errors import PROBLEM_RESPONSES, field_error
from shared.policy_store import PolicyStore
from shared.service import Runtime, runtime
from shared.time import SHANGHAI

CLOCKS = ("acceptance", "first_reply", "resolution", "regulator")
REPLIED_STATUSES = frozenset({"replied", "resolved", "closed", "reopened"})
router = APIRouter(prefix="/v1/reports", tags=["reports"], responses=PROBLEM_RESPONSES)
READERS = ("room_manager", "centre_manager", "leadership", "ops")
Managers = Annotated[Principal, Depends(require_roles(*READERS))]


class MonthlyReport(BaseModel):
    month: str
    complaints: int
    by_category: dict[str, int]
    by_channel: dict[str, int]
    by_department: dict[str, int]
    by_status: dict[str, int]
    dispatched: list[DepartmentResponse] = Field(
        description="Complaints dispatched to other departments and how each answered (004 §3.1)"
    )
    timeliness: dict[str, Rate] = Field(description="及时率 per clock: met in time / ended")
    reply_rate: Rate = Field(
        description="回复率: complaints owing a first reply that got one, at any time / owing"
    )
    targets: list[TargetCheck] = Field(description="KPI targets (ReportTargets) pass/fail")
    satisfaction: Rate = Field(description="Satisfied answers / survey answers")
    average_score: float | None
    reopen_rate: Rate = Field(description="Reopened at least once / resolved or closed")
    major: int
    over_level: int
    without_customer: int = Field(
        0, description="Tickets without a customer number (TMF621/partner fault reports)"
    )
    refunds_by_tier: list[RefundTier] = Field(
        description="Approved and paid refunds by the authority tier the refund service named"
    )
    surges: int
    surges_by_level: dict[str, int]
    sp_complaints: list[SpRate] = Field(description="Complaints per 10,000 users per SP (<5)")


def _rate(num: int, den: int) -> Rate:
    return Rate(numerator=num, denominator=den, rate=round(num / den, 4) if den else None)


def _bounds(month: str) -> tuple[datetime, datetime]:
    try:
        first = date.fromisoformat(f"{month}-01")
    except ValueError as exc:
        raise field_error("month", "expected YYYY-MM") from exc
    nxt = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return (
        datetime(first.year, first.month, 1, tzinfo=SHANGHAI),
        datetime(nxt.year, nxt.month, 1, tzinfo=SHANGHAI),
    )


@dataclass
class _Tally:
    counts: dict[str, Counter[str]]
    clock_ended: Counter[str]
    clock_met: Counter[str]
    replied: int = 0
    reply_due: int = 0
    answers: int = 0
    satisfied: int = 0
    scores: list[int] | None = None
    finished: int = 0
    reopened: int = 0
    major: int = 0
    over_level: int = 0
    without_customer: int = 0


def _tally(complaints: list[Complaint]) -> tuple[_Tally, list[RefundTier], Counter[str]]:
    t = _Tally(
        counts={k: Counter() for k in ("category", "channel", "department", "status")},
        clock_ended=Counter(),
        clock_met=Counter(),
        scores=[],
    )
    sps: Counter[str] = Counter()
    for c in complaints:
        t.counts["category"][c.category] += 1
        t.counts["channel"][c.channel] += 1
        t.counts["department"][c.handler_department or "unassigned"] += 1
        t.counts["status"][c.status] += 1
        t.major += c.major
        t.over_level += c.over_level
        t.without_customer += c.msisdn is None
        for clock in c.sla:
            name, state = clock.get("name"), clock.get("state")
            if state in ("met", "breached") and name in CLOCKS:
                t.clock_ended[name] += 1
                t.clock_met[name] += state == "met"
            if name == "first_reply" and state != "cancelled":
                t.reply_due += 1
                t.replied += (
                    bool(clock.get("met_at")) or state == "met" or (c.status in REPLIED_STATUSES)
                )
        if c.feedback is not None:
            t.answers += 1
            t.satisfied += bool(c.feedback.get("satisfied"))
            if isinstance(c.feedback.get("score"), int):
                t.scores.append(c.feedback["score"])  # type: ignore[union-attr]
        if c.status in ("resolved", "closed") or c.reopen_count:
            t.finished += 1
            t.reopened += c.reopen_count > 0
        sp = c.sp_code or (c.details or {}).get("sp_recognised", {}).get("sp_code")
        if sp:  # given at intake, disputed, or named in the text (services/intake/sp_names.py)
            sps[sp] += 1
    tiers = refund_tiers(r for c in complaints for r in c.refunds.values())
    return t, tiers, sps


async def build_report(
    rt: Runtime, month: str, targets: PolicyStore[ReportTargets] | None = None
) -> MonthlyReport:
    start, end = _bounds(month)
    settings: IntakeSettings = rt.settings  # type: ignore[assignment]
    targets = targets or targets_store(settings.report_targets)
    async with rt.db.sessions() as s:
        in_force = await targets.in_force(s, judged_at(end, utcnow()))
        complaints = list(
            (
                await s.scalars(
                    select(Complaint).where(
                        Complaint.received_at >= start, Complaint.received_at < end
                    )
                )
            ).all()
        )
        surges = (
            await s.scalars(
                select(SurgeSeen).where(
                    SurgeSeen.first_raised_at >= start, SurgeSeen.first_raised_at < end
                )
            )
        ).all()
    t, refund_tiers, sps = _tally(complaints)
    scores = t.scores or []
    sp_rates = [
        SpRate(
            sp_code=sp,
            complaints=n,
            subscribers=settings.sp_subscribers.get(sp),
            per_10000_users=(
                round(n * 10_000 / settings.sp_subscribers[sp], 2)
                if settings.sp_subscribers.get(sp)
                else None
            ),
        )
        for sp, n in sps.most_common()
    ]
    timeliness = {k: _rate(t.clock_met[k], t.clock_ended[k]) for k in CLOCKS}
    reply = _rate(t.replied, t.reply_due)
    return MonthlyReport(
        month=month,
        complaints=len(complaints),
        by_category=dict(t.counts["category"].most_common()),
        by_channel=dict(t.counts["channel"].most_common()),
        by_department=dict(t.counts["department"].most_common()),
        by_status=dict(t.counts["status"].most_common()),
        dispatched=department_responses(complaints),
        timeliness=timeliness,
        reply_rate=reply,
        targets=target_checks(in_force, timeliness, reply, sp_rates),
        satisfaction=_rate(t.satisfied, t.answers),
        average_score=round(sum(scores) / len(scores), 2) if scores else None,
        reopen_rate=_rate(t.reopened, t.finished),
        major=t.major,
        over_level=t.over_level,
        without_customer=t.without_customer,
        refunds_by_tier=refund_tiers,
        surges=len(surges),
        surges_by_level=dict(Counter(s.level for s in surges).most_common()),
        sp_complaints=sp_rates,
    )


def to_csv(report: MonthlyReport) -> str:
    """One `section,key,value` row per figure (spreadsheet-friendly)."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["section", "key", "value"])
    w.writerow(["total", "complaints", report.complaints])
    w.writerow(["total", "without_customer", report.without_customer])
    for section in ("by_category", "by_channel", "by_department", "by_status"):
        for k, v in getattr(report, section).items():
            w.writerow([section, k, v])
    for d in report.dispatched:
        w.writerow(["dispatched", d.department, d.dispatched])
        w.writerow(["dispatched_replied", d.department, d.replied])
        w.writerow(["dispatched_median_hours_to_reply", d.department, d.median_hours_to_reply])
    for clock, r in report.timeliness.items():
        w.writerow(["timeliness", clock, "" if r.rate is None else r.rate])
    for name in ("reply_rate", "satisfaction", "reopen_rate"):
        r = getattr(report, name)
        w.writerow(["rates", name, "" if r.rate is None else r.rate])
    for tier in report.refunds_by_tier:
        w.writerow(["refunds_count", tier.label, tier.count])
        w.writerow(["refunds_amount_fen", tier.label, tier.amount_fen])
    w.writerow(["surges", "total", report.surges])
    for sp in report.sp_complaints:
        w.writerow(
            ["sp_per_10000", sp.sp_code, "" if sp.per_10000_users is None else sp.per_10000_users]
        )
    return out.getvalue()


@router.get(
    "/monthly",
    response_model=MonthlyReport,
    summary="Monthly report (通报): JSON, or CSV / HTML with format=",
    responses={200: {"content": {"text/csv": {}, "text/html": {}}}},
)
async def monthly(
    _: Managers,
    rt: Annotated[Runtime, Depends(runtime)],
    request: Request,
    month: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM, Asia/Shanghai")],
    format: Literal["json", "csv", "html"] = "json",
) -> Any:
    report = await build_report(rt, month, store_of(request))
    if format == "csv":
        return Response(to_csv(report), media_type="text/csv; charset=utf-8")
    if format == "html":
        return HTMLResponse(to_html(report))
    return report
