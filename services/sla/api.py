"""SLA HTTP API: clocks, previews, breaches and risk, KPIs; the working-day calendar."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import partial
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import func, select

from services.sla import commands, domain
from services.sla.calendar import Day, OutsideCalendar, WorkingCalendar
from services.sla.clock import clock_state
from services.sla.commands import LoadYear, OfficialDay, OverrideDay, RecomputeTicket
from services.sla.handlers import Sla
from services.sla.models import CalendarChange, Clock
from services.sla.schemas import (
    CalendarChangeRead,
    ClockRead,
    ClockSummary,
    DayOverride,
    DayRead,
    KpiRow,
    Kpis,
    LimitRead,
    PauseRead,
    Preview,
    PreviewClock,
    PreviewRequest,
    TicketClocks,
    YearArrangement,
    YearLoaded,
)
from shared.auth import Principal, require_roles
from shared.db import utcnow
from shared.errors import PROBLEM_RESPONSES, NotFound, field_error
from shared.service import Runtime, runtime
from shared.usecase import run

router = APIRouter(prefix="/v1/sla", tags=["sla"], responses=PROBLEM_RESPONSES)
calendar_router = APIRouter(prefix="/v1/calendar", tags=["calendar"], responses=PROBLEM_RESPONSES)
STAFF = ("agent", "frontline", "room_manager", "centre_manager", "leadership", "ops")
Staff = Annotated[Principal, Depends(require_roles(*STAFF))]
Ops = Annotated[Principal, Depends(require_roles("ops"))]
Rt = Annotated[Runtime, Depends(runtime)]


def _sla(request: Request) -> Sla:
    sla: Sla = request.app.state.sla
    return sla


Uses = Annotated[Sla, Depends(_sla)]


def _aware(name: str, value: datetime | None) -> None:
    if value is not None and value.tzinfo is None:
        raise field_error(name, "must include a timezone offset")


def _clock_read(clock: Clock, calendar: WorkingCalendar, now: datetime) -> ClockRead:
    log = domain.log_of(clock)
    state = clock_state(
        started_at=clock.started_at,
        limit=domain.limit_of(clock),
        calendar=calendar,
        now=now,
        pauses=log.pauses,
        met_at=log.met_at,
    )
    return ClockRead(
        name=clock.name,
        state="cancelled" if clock.state == "cancelled" else state.state,
        limit=LimitRead(unit=clock.limit_unit, amount=clock.limit_amount),
        started_at=clock.started_at,
        due_at=state.due_at,
        remaining_seconds=state.remaining.total_seconds(),
        elapsed_working_time_seconds=state.elapsed.total_seconds(),
        elapsed_fraction=round(state.elapsed_fraction, 4),
        provisional=state.provisional,
        warn_at=clock.warn_at,
        warned_at=clock.warned_at,
        breached_at=clock.breached_at,
        met_at=clock.met_at,
        pauses=[PauseRead(paused_at=p.paused_at, resumed_at=p.resumed_at) for p in log.pauses],
    )


@router.get("/tickets/{ticket_no}", response_model=TicketClocks, summary="A ticket's SLA clocks")
async def get_ticket_clocks(ticket_no: str, _: Staff, rt: Rt, sla: Uses) -> TicketClocks:
    """Each clock live as of now. See the service description for what "within N working
    days" means."""
    async with rt.db.uow() as uow:
        clocks = await sla._clocks(uow, ticket_no)
        if not clocks:
            raise NotFound(f"no clocks for {ticket_no}")
        calendar = await sla.calendar(uow)
        now = utcnow()
        return TicketClocks(
            ticket_no=ticket_no,
            handler_department=clocks[0].handler_department,
            clocks=[_clock_read(c, calendar, now) for c in clocks],
        )


@router.post(
    "/preview",
    response_model=Preview,
    summary="The deadlines a complaint received at a given time would get",
)
async def preview(body: PreviewRequest, _: Staff, rt: Rt, sla: Uses) -> Preview:
    """For front-ends telling the customer the promised dates while registering."""
    _aware("received_at", body.received_at)
    async with rt.db.uow() as uow:
        calendar = await sla.calendar(uow)
        policy = await sla.policy(uow, body.received_at)
    limits = policy.limits(
        severity=body.severity,
        channel=body.channel,
        category=body.category,
        over_level=body.over_level,
    )
    clocks = []
    for name, limit in limits.items():
        try:
            state = clock_state(
                started_at=body.received_at, limit=limit, calendar=calendar, now=body.received_at
            )
        except (OutsideCalendar, OverflowError) as exc:
            raise field_error("received_at", "outside the calendar's years (2004-2040)") from exc
        clocks.append(
            PreviewClock(
                name=name,
                limit=LimitRead(unit=limit.unit, amount=limit.amount),
                due_at=state.due_at,
                provisional=state.provisional,
            )
        )
    return Preview(received_at=body.received_at, clocks=clocks)


def _summary(c: Clock) -> ClockSummary:
    return ClockSummary.model_validate(c, from_attributes=True)


@router.get("/breaches", response_model=list[ClockSummary], summary="Breached clocks, newest first")
async def breaches(
    _: Staff,
    rt: Rt,
    department: Annotated[str | None, Query(max_length=64)] = None,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[ClockSummary]:
    _aware("since", since)
    query = select(Clock).where(Clock.breached_at.is_not(None))
    if department:
        query = query.where(Clock.handler_department == department)
    if since:
        query = query.where(Clock.breached_at >= since)
    async with rt.db.sessions() as s:
        rows = (await s.scalars(query.order_by(Clock.breached_at.desc()).limit(limit))).all()
    return [_summary(c) for c in rows]


@router.get(
    "/at-risk",
    response_model=list[ClockSummary],
    summary="Open clocks due within a window (hours), soonest first",
)
async def at_risk(
    _: Staff,
    rt: Rt,
    within_hours: Annotated[float, Query(gt=0, le=24 * 60)] = 24,
    department: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[ClockSummary]:
    now = utcnow()
    query = select(Clock).where(
        Clock.open.is_(True),
        Clock.breached_at.is_(None),
        Clock.due_at <= now + timedelta(hours=within_hours),
    )
    if department:
        query = query.where(Clock.handler_department == department)
    async with rt.db.sessions() as s:
        rows = (await s.scalars(query.order_by(Clock.due_at).limit(limit))).all()
    return [_summary(c) for c in rows]


@router.get("/kpis", response_model=Kpis, summary="Timeliness (及时率) and reply rate by period")
async def kpis(
    _: Staff,
    rt: Rt,
    period_from: Annotated[datetime, Query(alias="from")],
    period_to: Annotated[datetime, Query(alias="to")],
    group_by: Literal["department", "category"] = "department",
) -> Kpis:
    """Clocks that ended (met or breached) in [from, to): on time / ended, per group and
    clock. Reply rate: tickets received in the period with their first reply given."""
    _aware("from", period_from)
    _aware("to", period_to)
    if period_to <= period_from:
        raise field_error("to", "must be after from")
    column = Clock.handler_department if group_by == "department" else Clock.category
    ended_at = func.coalesce(Clock.met_at, Clock.breached_at)
    on_time = func.sum(
        func.cast(
            (Clock.met_at.is_not(None)) & (Clock.breached_at.is_(None)), Clock.limit_amount.type
        )
    )
    query = (
        select(column, Clock.name, func.count(), on_time)
        .where(ended_at >= period_from, ended_at < period_to, Clock.state != "cancelled")
        .group_by(column, Clock.name)
        .order_by(column, Clock.name)
    )
    replies = select(func.count(), func.count(Clock.met_at)).where(
        Clock.name == "first_reply", Clock.started_at >= period_from, Clock.started_at < period_to
    )
    async with rt.db.sessions() as s:
        rows = (await s.execute(query)).all()
        tickets, replied = (await s.execute(replies)).one()
    return Kpis(
        period_from=period_from,
        period_to=period_to,
        group_by=group_by,
        rows=[
            KpiRow(
                group=g or "unassigned",
                clock=name,
                ended=n,
                on_time=int(ok or 0),
                timeliness_rate=round(int(ok or 0) / n, 4) if n else None,
            )
            for g, name, n, ok in rows
        ],
        tickets=tickets,
        replied=replied,
        reply_rate=round(replied / tickets, 4) if tickets else None,
    )


@router.post(
    "/tickets/{ticket_no}/recompute",
    response_model=TicketClocks,
    summary="Re-apply the policy in force now to a ticket's clocks, keeping its extensions "
    "(ops; audited)",
)
async def recompute(ticket_no: str, principal: Ops, rt: Rt, sla: Uses) -> TicketClocks:
    await run(
        rt.db,
        partial(commands.recompute_ticket, sla=sla),
        RecomputeTicket(ticket_no, principal.sub),
    )
    return await get_ticket_clocks(ticket_no, principal, rt, sla)


# --- calendar -----------------------------------------------------------------------------
@calendar_router.get("/days", response_model=list[DayRead], summary="Days with workday and source")
async def list_days(
    _: Staff,
    rt: Rt,
    sla: Uses,
    day_from: Annotated[date, Query(alias="from")],
    day_to: Annotated[date, Query(alias="to")],
) -> list[DayRead]:
    if day_to < day_from:
        raise field_error("to", "must not be before from")
    if (day_to - day_from).days > 731:
        raise field_error("to", "at most two years per request")
    async with rt.db.uow() as uow:
        calendar = await sla.calendar(uow)
    out = []
    for i in range((day_to - day_from).days + 1):
        d: Day = calendar.day(day_from + timedelta(days=i))
        out.append(
            DayRead(date=d.date, workday=d.workday, source=d.source, name=d.name, note=d.note)
        )
    return out


@calendar_router.put(
    "/years/{year}",
    response_model=YearLoaded,
    summary="Load a year's official arrangement (ops; audited; recomputes open deadlines)",
)
async def put_year(
    year: int, body: YearArrangement, principal: Ops, rt: Rt, sla: Uses
) -> YearLoaded:
    """Replaces the year's official holidays and make-up working days; every open deadline
    that touches the year is recomputed and `SlaDeadlinesChanged` published."""
    cmd = LoadYear(
        year=year,
        holidays=[OfficialDay(e.date, e.name) for e in body.holidays],
        workdays=[OfficialDay(e.date, e.name) for e in body.workdays],
        actor=principal.sub,
        detail=body.model_dump(mode="json"),
    )
    days, moved = await run(rt.db, partial(commands.load_year, sla=sla), cmd)
    return YearLoaded(year=year, days=days, tickets_recomputed=moved)


@calendar_router.put(
    "/days/{day}",
    response_model=DayRead,
    summary="Override a single day (ops; audited; recomputes open deadlines)",
)
async def put_day(day: date, body: DayOverride, principal: Ops, rt: Rt, sla: Uses) -> DayRead:
    cmd = OverrideDay(day, body.workday, body.note, principal.sub)
    await run(rt.db, partial(commands.override_day, sla=sla), cmd)
    return DayRead(date=day, workday=body.workday, source="override", note=body.note)


@calendar_router.get(
    "/audit", response_model=list[CalendarChangeRead], summary="Every calendar change"
)
async def calendar_audit(
    _: Staff, rt: Rt, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[CalendarChangeRead]:
    async with rt.db.sessions() as s:
        rows = (
            await s.scalars(select(CalendarChange).order_by(CalendarChange.id.desc()).limit(limit))
        ).all()
    return [CalendarChangeRead.model_validate(r, from_attributes=True) for r in rows]
