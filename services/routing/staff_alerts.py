"""Alerts reach people: the staff directory names who holds each role the rules address
(seed 004 §3.5: 班长 / 营销经理 / 责任部门 / 部门经理 / 公司分管领导), and each alert becomes one
StaffAlertRaised per cluster and rule (a digest), with its recipients, for notify to send."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import select

from services.routing.models import StaffRole
from shared.db import UnitOfWork
from shared.events import StaffAlertRaised, StaffContact

# role -> what kind of unit it is held for
ROLES: dict[str, str] = {
    "shift_leader": "desk",  # 班长, per 10086 front desk and shift
    "marketing_manager": "hall",  # 营销经理, per service hall
    "department_contact": "department",  # the department's duty desk (初步答复)
    "department_manager": "department",  # 部门经理
    "leader_in_charge": "department",  # 公司分管领导 (unit `*`: the whole company)
}
ANY_UNIT = "*"

# alert kind (the surge rule, or a cluster-level event) -> (role, unit source, urgent)
ROUTES: dict[str, tuple[str, str, bool]] = {
    "front_desk": ("shift_leader", "scope", True),
    "service_hall": ("marketing_manager", "scope", True),
    "department": ("department_contact", "departments", True),
    "department_manager": ("department_manager", "departments", True),
    "answer_overdue": ("department_manager", "departments", True),
    "company_leader": ("leader_in_charge", "departments", True),
    "over_level": ("leader_in_charge", "departments", True),
    "major": ("leader_in_charge", "departments", True),
    "temporary_plan": ("department_contact", "departments", True),
    "incident_declared": ("leader_in_charge", "scope", True),  # scope: the incident title
    "temporary_plan_overdue": ("department_manager", "departments", True),
}
DIGEST_TICKETS = 20  # the digest lists the first few tickets; the count says how many


def parse_shift_starts(text: str) -> tuple[time, ...]:
    """'08:00,20:00' -> (08:00, 20:00), sorted; ValueError on a bad entry."""
    starts = sorted({time.fromisoformat(part.strip()) for part in text.split(",") if part.strip()})
    if not starts:
        raise ValueError("name at least one shift start")
    return tuple(starts)


def shift_of(at: datetime, starts: Sequence[time], timezone: str) -> str:
    """The shift (named by its local start, 'HH:MM') that `at` falls in."""
    local = at.astimezone(ZoneInfo(timezone)).time()
    current = starts[-1]  # before the first start: still the last shift of the day before
    for start in starts:
        if local >= start:
            current = start
    return current.strftime("%H:%M")


async def holders(
    uow: UnitOfWork, role: str, units: Iterable[str], shift: str | None
) -> list[StaffContact]:
    """Who holds `role` for each unit (falling back to unit `*`), for the shift if given."""
    found: dict[tuple[str, str | None, str | None], StaffContact] = {}
    for unit in units:
        for candidate in (unit, ANY_UNIT):
            query = select(StaffRole).where(StaffRole.role == role, StaffRole.unit == candidate)
            if shift is not None:
                query = query.where(StaffRole.shift.in_(("", shift)))
            rows = (await uow.session.scalars(query.order_by(StaffRole.id))).all()
            for r in rows:
                contact = StaffContact(role=role, name=r.name, email=r.email, mobile=r.mobile)
                found.setdefault((r.name, r.email, r.mobile), contact)
            if rows:
                break
    return list(found.values())


async def staff_alert(
    uow: UnitOfWork,
    *,
    kind: str,
    key: str,
    ticket_no: str,
    cluster_id: str | None,
    scope: str | None,
    departments: Sequence[str],
    tickets: Sequence[str],
    count: int,
    at: datetime,
    shift_starts: Sequence[time],
    timezone: str,
    due_at: datetime | None = None,
) -> StaffAlertRaised:
    """Resolve the recipients of one alert and stage its StaffAlertRaised."""
    role, source, urgent = ROUTES[kind]
    units = [scope] if source == "scope" and scope else list(departments)
    shift = shift_of(at, shift_starts, timezone) if role == "shift_leader" else None
    event = StaffAlertRaised(
        ticket_no=ticket_no,
        alert_key=key,
        kind=kind,
        cluster_id=cluster_id,
        unit=scope if source == "scope" else None,
        count=count,
        tickets=list(tickets[:DIGEST_TICKETS]),
        departments=list(departments),
        recipients=await holders(uow, role, units or [ANY_UNIT], shift),
        urgent=urgent,
        due_at=due_at,
        raised_at=at,
    )
    uow.publish(event)
    return event
