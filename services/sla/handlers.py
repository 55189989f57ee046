"""SLA use cases: start, pause, resume, meet and reopen clocks from ticket events; fire
warnings and breaches once; recompute deadlines when the calendar changes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import func, or_, select, update

from services.sla import domain
from services.sla.calendar import WorkingCalendar
from services.sla.calendar_store import CalendarCache
from services.sla.clock import SHANGHAI, Limit
from services.sla.models import Clock, PolicyVersion
from services.sla.policy import CLOCK_ORDER, SlaPolicy, met_by
from services.sla.replan import replan_major
from services.sla.settings import SlaSettings
from shared.db import Database, UnitOfWork, utcnow
from shared.errors import NotYet
from shared.events import (
    SlaBreached,
    SlaClock,
    SlaClocksStarted,
    SlaDeadlinesChanged,
    SlaMet,
    SlaWarning,
    TicketAssigned,
    TicketClassified,
    TicketMarkedMajor,
    TicketStatusChanged,
    TicketTransferred,
)
from shared.policy_store import PolicyStore


def published_clock(c: Clock) -> SlaClock:
    return SlaClock(name=c.name, due_at=c.due_at, state=c.state, provisional=c.provisional)


def _ordered(clocks: Sequence[Clock]) -> list[Clock]:
    return sorted(clocks, key=lambda c: CLOCK_ORDER.index(c.name))


class Sla:
    """The SLA use cases with their policy, warning rule and calendar cache."""

    def __init__(self, settings: SlaSettings, cache: CalendarCache) -> None:
        self.settings = settings
        self.cache = cache
        self.policies = PolicyStore("sla", SlaPolicy, PolicyVersion, settings.policy)
        self.rule = settings.warning_rule()

    async def policy(self, uow: UnitOfWork, received_at: datetime | None = None) -> SlaPolicy:
        """The policy in force when the complaint was received (now if None)."""
        policy: SlaPolicy = await self.policies.in_force(uow.session, received_at)
        return policy

    async def calendar(self, uow: UnitOfWork) -> WorkingCalendar:
        return await self.cache.get(uow.session)

    async def _clocks(self, uow: UnitOfWork, ticket_no: str) -> list[Clock]:
        rows = (await uow.session.scalars(select(Clock).where(Clock.ticket_no == ticket_no))).all()
        return _ordered(rows)

    # --- consumed events ----------------------------------------------------------------
    async def on_ticket_classified(self, event: TicketClassified, uow: UnitOfWork) -> None:
        """Start the clocks from the receipt time under the policy in force now."""
        if await self._clocks(uow, event.ticket_no):
            return  # a reclassification does not restart clocks
        calendar = await self.calendar(uow)
        now = utcnow()
        policy = await self.policy(uow, event.received_at)
        limits = policy.limits(
            severity=event.severity,
            channel=event.channel,
            category=event.category,
            over_level=event.over_level,
        )
        template = Clock(
            ticket_no=event.ticket_no,
            name="",
            severity=event.severity,
            channel=event.channel,
            over_level=event.over_level,
            category=event.category,
            handler_department=None,
            limit_unit="hours",
            limit_amount=1,
            started_at=event.received_at,
        )
        clocks = self._start(template, limits, event.received_at, calendar, now)
        uow.session.add_all(clocks)
        uow.publish(
            SlaClocksStarted(ticket_no=event.ticket_no, clocks=[published_clock(c) for c in clocks])
        )

    def _start(
        self,
        like: Clock,
        limits: dict[str, Limit],
        at: datetime,
        calendar: WorkingCalendar,
        now: datetime,
    ) -> list[Clock]:
        """New running clocks for these limits, for the ticket `like` describes."""
        clocks = []
        for name, limit in limits.items():
            clock = Clock(
                ticket_no=like.ticket_no,
                name=name,
                severity=like.severity,
                channel=like.channel,
                over_level=like.over_level,
                category=like.category,
                handler_department=like.handler_department,  # a parked TicketAssigned follows
                limit_unit=limit.unit,
                limit_amount=limit.amount,
                started_at=at,
                pauses=[],
                state="running",
            )
            domain.refresh(clock, calendar, now, self.rule)
            clocks.append(clock)
        return clocks

    async def on_ticket_marked_major(self, event: TicketMarkedMajor, uow: UnitOfWork) -> None:
        """Re-plan the clocks under the major policy (seed 004 §3.3)."""
        await replan_major(self, event, uow)

    async def on_ticket_assigned(
        self, event: TicketAssigned | TicketTransferred, uow: UnitOfWork
    ) -> None:
        department = (
            event.handler_department if isinstance(event, TicketAssigned) else event.to_department
        )
        result = await uow.session.execute(
            update(Clock)
            .where(Clock.ticket_no == event.ticket_no)
            .values(handler_department=department)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            return
        # Read ahead of the ticket's classification (another topic): applied once the
        # clocks start (the platform parks it and replays it after TicketClassified).
        raise NotYet(event.ticket_no, "TicketAssigned before the clocks started")

    async def on_ticket_status_changed(self, event: TicketStatusChanged, uow: UnitOfWork) -> None:
        """pending pauses every running clock; leaving pending resumes them; replies and
        resolutions meet clocks; reopening resumes resolution; cancelling stops all."""
        clocks = await self._clocks(uow, event.ticket_no)
        if not clocks:
            return
        at = event.changed_at
        changed: list[Clock] = []
        met: list[Clock] = []
        for clock in clocks:
            log = domain.log_of(clock)
            new = log
            if event.to_status == "cancelled" and clock.open:
                clock.state = "cancelled"
            elif event.to_status == "pending" and clock.open and not log.paused:
                new = log.pause(at)
            elif event.from_status == "pending" and log.paused:
                new = log.resume(at)
            if event.to_status == "reopened" and clock.name == "resolution" and log.met_at:
                new = new.reopen(at)
            if met_by(event.to_status, [clock.name]) and new.met_at is None:
                new = new.meet(at)
                met.append(clock)
            if new != log or clock.state == "cancelled":
                domain.store_log(clock, new)
                changed.append(clock)
        calendar = await self.calendar(uow)
        now = utcnow()
        started = await self._clocks_starting_on(uow, event.to_status, clocks, at, calendar, now)
        if not changed and not started:
            return
        clocks = _ordered([*clocks, *started])
        for clock in changed:
            domain.refresh(clock, calendar, now, self.rule)
        for clock in met:
            assert clock.met_at is not None
            uow.publish(
                SlaMet(
                    ticket_no=clock.ticket_no,
                    clock=clock.name,
                    due_at=clock.due_at,
                    met_at=clock.met_at,
                )
            )
        uow.publish(
            SlaDeadlinesChanged(
                ticket_no=event.ticket_no,
                clocks=[published_clock(c) for c in clocks],
                reason=f"status:{event.to_status}",
            )
        )

    async def _clocks_starting_on(
        self,
        uow: UnitOfWork,
        status: str,
        clocks: list[Clock],
        at: datetime,
        calendar: WorkingCalendar,
        now: datetime,
    ) -> list[Clock]:
        """Clocks that start when the ticket reaches `status` (e.g. result feedback and
        archive start at resolution), under the policy of the ticket's receipt."""
        first = clocks[0]
        policy = await self.policy(uow, first.started_at)
        limits = policy.limits(
            severity=first.severity,
            channel=first.channel,
            category=first.category,
            over_level=first.over_level,
            starts_on=status,
        )
        have = {c.name for c in clocks}
        started = self._start(
            first, {k: v for k, v in limits.items() if k not in have}, at, calendar, now
        )
        uow.session.add_all(started)
        return started

    # --- timers -------------------------------------------------------------------------
    async def fire(
        self, uow: UnitOfWork, ids: Sequence[int], now: datetime, calendar: WorkingCalendar
    ) -> int:
        """Publish the warnings and breaches these clocks owe, each exactly once.

        Two compare-and-set UPDATE ... RETURNING statements claim, for the whole chunk, the
        warnings and breaches not yet fired (the stored `warn_at`/`due_at` are current:
        every change to a clock's log or to the calendar recomputes them). Only the claimed
        ones are published; a replica or a retried chunk claims nothing twice.

        The open test is wrapped in coalesce() so that no planner reads it through the
        (open, provisional) index: on SQLite that index matched every open clock and each
        claim scanned them all instead of looking the chunk up by primary key."""
        open_ids = Clock.id.in_(ids), func.coalesce(Clock.open, False).is_(True)
        warned = set(
            (
                await uow.session.scalars(
                    update(Clock)
                    .where(*open_ids, Clock.warned_at.is_(None), Clock.warn_at <= now)
                    .values(warned_at=now)
                    .returning(Clock.id)
                    .execution_options(synchronize_session=False)
                )
            ).all()
        )
        breached = set(
            (
                await uow.session.scalars(
                    update(Clock)
                    .where(*open_ids, Clock.breached_at.is_(None), Clock.due_at <= now)
                    .values(breached_at=now)
                    .returning(Clock.id)
                    .execution_options(synchronize_session=False)
                )
            ).all()
        )
        clocks = (
            await uow.session.scalars(
                select(Clock).where(Clock.id.in_(ids)).execution_options(populate_existing=True)
            )
        ).all()
        # Recomputed below and written back in one executemany UPDATE by primary key, not
        # one ORM flush per clock (the chunk's cost was the flush).
        for clock in clocks:
            uow.session.expunge(clock)
        threshold = f"{int((self.rule.fraction or 0) * 100)}%|{self.rule.working_days_before_due}wd"
        for clock in clocks:
            if clock.id in warned:
                uow.publish(
                    SlaWarning(
                        ticket_no=clock.ticket_no,
                        clock=clock.name,
                        threshold=threshold,
                        due_at=clock.due_at,
                        handler_department=clock.handler_department,
                    )
                )
            if clock.id in breached:
                uow.publish(
                    SlaBreached(
                        ticket_no=clock.ticket_no,
                        clock=clock.name,
                        due_at=clock.due_at,
                        handler_department=clock.handler_department,
                    )
                )
            domain.refresh(clock, calendar, now, self.rule)
        if clocks:
            await uow.session.execute(
                update(Clock),
                [
                    {
                        "id": c.id,
                        "due_at": c.due_at,
                        "provisional": c.provisional,
                        "state": c.state,
                        "open": c.open,
                        "warn_at": c.warn_at,
                        "next_fire_at": c.next_fire_at,
                        "warned_at": c.warned_at,
                        "breached_at": c.breached_at,
                        "updated_at": now,
                    }
                    for c in clocks
                ],
            )
        return len(warned) + len(breached)

    async def tick(self, db: Database, now: datetime) -> int:
        """Fire what is due by the next-fire index (never a scan of all clocks), in chunks
        of `fire_chunk` clocks per transaction."""
        async with db.sessions() as s:
            due = (
                await s.scalars(
                    select(Clock.id)
                    .where(Clock.next_fire_at <= now)
                    .order_by(Clock.next_fire_at)
                    .limit(self.settings.scheduler_batch)
                )
            ).all()
        fired = 0
        chunk = self.settings.fire_chunk
        for i in range(0, len(due), chunk):
            async with db.uow() as uow:
                calendar = await self.calendar(uow)
                fired += await self.fire(uow, due[i : i + chunk], now, calendar)
                await uow.commit()
        return fired

    # --- calendar changes ---------------------------------------------------------------
    async def recompute_touching(
        self, uow: UnitOfWork, first: date, last: date, reason: str
    ) -> int:
        """Recompute every open clock whose span may touch [first, last]; publish the moves."""
        calendar = await self.calendar(uow)
        now = utcnow()
        rows = (
            await uow.session.scalars(
                select(Clock).where(
                    Clock.open.is_(True),
                    or_(Clock.provisional.is_(True), Clock.due_at >= _start_of(first)),
                    Clock.started_at <= _start_of(last, plus_days=1),
                )
            )
        ).all()
        moved: dict[str, list[Clock]] = {}
        for clock in rows:
            before = (clock.due_at, clock.provisional)
            domain.refresh(clock, calendar, now, self.rule)
            if (clock.due_at, clock.provisional) != before:
                moved.setdefault(clock.ticket_no, []).append(clock)
        for ticket_no, clocks in moved.items():
            uow.publish(
                SlaDeadlinesChanged(
                    ticket_no=ticket_no,
                    clocks=[published_clock(c) for c in _ordered(clocks)],
                    reason=reason,
                )
            )
        return len(moved)


def _start_of(day: date, plus_days: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI) + timedelta(days=plus_days)
