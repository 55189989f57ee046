"""Routing's consumed events and timers: dispatch, escalation and supervision, progress
notices and the temporary-plan clock. The commands staff give (claim, transfer, escalate,
temporary plan, directory) are in `commands.py`; both share `Routing.escalate`."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select, update

from services.routing import domain, majors
from services.routing.models import (
    Assignment,
    AssignmentHistory,
    Department,
    ResponsibilityRule,
    SupervisionEntry,
    SurgeInput,
    SurgeSignal,
)
from services.routing.settings import RoutingSettings
from shared.db import UnitOfWork, utcnow
from shared.errors import Invalid, NotFound, NotYet
from shared.events import (
    TERMINAL_STATUSES,
    ProgressEntry,
    ProgressNoticeDue,
    SlaBreached,
    TicketAssigned,
    TicketClassified,
    TicketEscalated,
    TicketMarkedMajor,
    TicketNoteAdded,
    TicketReceived,
    TicketStatusChanged,
)
from shared.scheduler import claim

log = logging.getLogger(__name__)

CLOSED_STATUSES = TERMINAL_STATUSES


async def _matrix(uow: UnitOfWork) -> dict[str, str]:
    rows = (await uow.session.scalars(select(ResponsibilityRule))).all()
    return {r.category: r.department_code for r in rows}


async def department(uow: UnitOfWork, code: str) -> Department:
    found = await uow.session.get(Department, code)
    if found is None:
        raise Invalid(
            "to_department",
            f"unknown department {code}",
            detail=f"to_department: no department {code}",
        )
    return found


async def load(uow: UnitOfWork, ticket_no: str) -> Assignment:
    assignment = await uow.session.get(Assignment, ticket_no)
    if assignment is None:
        raise NotFound(f"no assignment for {ticket_no}")
    return assignment


def record_history(
    uow: UnitOfWork,
    a: Assignment,
    action: str,
    to: str,
    actor: str,
    reason: str,
    at: datetime,
    from_: str | None = None,
) -> None:
    uow.session.add(
        AssignmentHistory(
            ticket_no=a.ticket_no,
            action=action,
            from_department=from_,
            to_department=to,
            actor=actor,
            reason=reason,
            at=at,
        )
    )


def assigned(a: Assignment, reason: str, at: datetime) -> TicketAssigned:
    return TicketAssigned(
        ticket_no=a.ticket_no,
        owner_department=a.owner_department,
        handler_department=a.handler_department,
        assignee=a.assignee,
        reason=reason,
        assigned_at=at,
    )


def _breach_reason(clock: str) -> str:
    return f"{clock} deadline passed"


class Routing:
    """The routing use cases with their policy (from settings)."""

    def __init__(self, settings: RoutingSettings) -> None:
        self.settings = settings
        self.policy = settings.escalation_policy()
        self.dispatch = settings.dispatch_table()

    # --- consumed events ----------------------------------------------------------------
    async def on_ticket_classified(self, event: TicketClassified, uow: UnitOfWork) -> None:
        """首问负责 + 部门问责: the accepting department owns it, the responsible one
        handles it. A later reclassification re-dispatches an unclaimed ticket."""
        handler, reason = domain.responsible_department(
            event.category, await _matrix(uow), event.product, self.dispatch
        )
        now = utcnow()
        existing = await uow.session.get(Assignment, event.ticket_no)
        if existing is not None:
            await self._reclassified(uow, existing, event, handler, reason, now)
            return
        a = Assignment(
            ticket_no=event.ticket_no,
            category=event.category,
            severity=event.severity,
            major=event.major,
            over_level=event.over_level,
            priority=domain.priority(event.severity, event.major, event.over_level),
            owner_department=event.accepting_department,
            handler_department=handler,
            transfer_count=0,
            status="received",
            closed=False,
            received_at=event.received_at,
            assigned_at=now,
            next_progress_notice_at=event.received_at
            + timedelta(days=self.policy.progress_notice_after_days),
        )
        if event.major and event.category in self.policy.defect_categories:
            a.temporary_plan_due_at = now + timedelta(
                minutes=self.policy.temporary_plan_within_minutes
            )
        uow.session.add(a)
        uow.session.add(
            SurgeSignal(
                kind="observe", ticket_no=event.ticket_no, payload={"category": event.category}
            )
        )
        await uow.session.flush()
        record_history(uow, a, "dispatch", handler, "routing", reason, now)
        uow.publish(assigned(a, reason, now))
        log.info("ticket dispatched", extra={"handler_department": handler, "rule": reason})
        if event.severity == "urgent" or event.major:
            trigger = "conflict" if event.severity == "urgent" else "major"
            await self.escalate(uow, a, trigger, ", ".join(event.major_reasons) or trigger, now)

    async def _reclassified(
        self,
        uow: UnitOfWork,
        a: Assignment,
        event: TicketClassified,
        handler: str,
        reason: str,
        now: datetime,
    ) -> None:
        a.category = event.category
        if a.closed or a.assignee is not None or handler == a.handler_department:
            return  # a claimed ticket stays with its handler; agents transfer it by hand
        before = a.handler_department
        a.handler_department = handler
        record_history(uow, a, "redispatch", handler, event.classified_by, reason, now, before)
        uow.publish(assigned(a, f"reclassified:{reason}", now))

    async def on_ticket_status_changed(self, event: TicketStatusChanged, uow: UnitOfWork) -> None:
        a = await uow.session.get(Assignment, event.ticket_no)
        if a is None:
            return
        if (
            self.settings.surge_answer_from_reply
            and event.to_status == "replied"
            and a.status != "replied"
        ):
            uow.session.add(SurgeSignal(kind="answer", ticket_no=a.ticket_no, at=event.changed_at))
        a.status = event.to_status
        a.closed = event.to_status in CLOSED_STATUSES
        if a.closed:
            a.next_progress_notice_at = None
            a.temporary_plan_due_at = None
        await self._progress_on_status(uow, a, event)

    async def _progress_on_status(
        self, uow: UnitOfWork, a: Assignment, event: TicketStatusChanged
    ) -> None:
        """Notices run while the fix is unresolved (seed 004 §3.5): resolving stops them,
        with one final result notice if notices were owed; reopening starts them again."""
        after = timedelta(days=self.policy.progress_notice_after_days)
        if event.to_status == "resolved":
            a.next_progress_notice_at = None
            if event.changed_at - a.received_at >= after:
                uow.publish(
                    ProgressNoticeDue(
                        ticket_no=a.ticket_no,
                        owner_department=a.owner_department,
                        handler_department=a.handler_department,
                        days_open=(event.changed_at - a.received_at).days,
                        due_at=event.changed_at,
                        latest=await self._latest(uow, a.ticket_no),
                        final=True,
                        resolution=event.resolution,
                    )
                )
        elif event.to_status == "reopened" and not a.closed:
            every = timedelta(days=self.policy.progress_notice_every_days)
            a.next_progress_notice_at = max(a.received_at + after, event.changed_at + every)

    async def _latest(self, uow: UnitOfWork, ticket_no: str) -> list[ProgressEntry]:
        rows = (
            await uow.session.scalars(
                select(SupervisionEntry)
                .where(SupervisionEntry.ticket_no == ticket_no)
                .order_by(SupervisionEntry.at.desc(), SupervisionEntry.id.desc())
                .limit(self.settings.progress_notice_entries)
            )
        ).all()
        return [ProgressEntry(at=r.at, author=r.author, text=r.text) for r in rows]

    async def on_ticket_note_added(self, event: TicketNoteAdded, uow: UnitOfWork) -> None:
        """Agents' notes are progress too: they go into the ledger the notices quote."""
        if await uow.session.get(Assignment, event.ticket_no) is None:
            return
        uow.session.add(
            SupervisionEntry(
                ticket_no=event.ticket_no,
                kind="note",
                author=event.author,
                text=event.text,
                at=event.added_at,
            )
        )

    async def on_ticket_received(self, event: TicketReceived, uow: UnitOfWork) -> None:
        """Keep what surge detection needs; the complaint is observed once classified."""
        if await uow.session.get(SurgeInput, event.ticket_no) is None:
            uow.session.add(
                SurgeInput(
                    ticket_no=event.ticket_no,
                    text=event.description,
                    desk_id=event.desk_id,
                    store_id=event.store_id,
                    location=event.location,
                    over_level=event.over_level,
                    received_at=event.received_at,
                )
            )

    async def on_sla_breached(self, event: SlaBreached, uow: UnitOfWork) -> None:
        a = await uow.session.get(Assignment, event.ticket_no)
        if a is None:
            # Ahead of the classification (another topic): the platform parks it and
            # replays it once the ticket is dispatched.
            raise NotYet(event.ticket_no, "SlaBreached before the ticket was dispatched")
        if not a.closed:
            await self.escalate(uow, a, "sla_breach", _breach_reason(event.clock), utcnow())

    async def on_ticket_marked_major(self, event: TicketMarkedMajor, uow: UnitOfWork) -> None:
        a = await uow.session.get(Assignment, event.ticket_no)
        if a is None or a.major:
            return
        a.major = True
        a.priority = min(a.priority, 1)
        now = utcnow()
        await self.escalate(uow, a, "major", event.reason, now, cluster_id=event.cluster_id)
        if event.cluster_id:  # one notice and one temporary-plan clock for the cluster
            await majors.start_cluster_plan_clock(
                uow, self.settings, event.cluster_id, a.ticket_no, now
            )
        elif a.category in self.policy.defect_categories and a.temporary_plan_due_at is None:
            a.temporary_plan_due_at = now + timedelta(
                minutes=self.policy.temporary_plan_within_minutes
            )

    # --- shared by events, timers and commands --------------------------------------------
    async def escalate(
        self,
        uow: UnitOfWork,
        a: Assignment,
        trigger: str,
        reason: str,
        now: datetime,
        *,
        cluster_id: str | None = None,
    ) -> str:
        """Appoint a supervisor, open the ledger entry and publish TicketEscalated."""
        handler = await uow.session.get(Department, a.handler_department)
        leader = await uow.session.get(Department, self.settings.leadership_department)
        supervisor = domain.supervisor_for(
            trigger,
            a.severity,
            handler.manager if handler else "unassigned",
            leader.manager if leader else "leader_in_charge",
        )
        a.supervisor = supervisor
        uow.session.add(
            SupervisionEntry(
                ticket_no=a.ticket_no,
                kind="escalated",
                author="routing" if trigger != "on_demand" else reason.split(":", 1)[0],
                text=f"{trigger}: {reason}; supervisor {supervisor}",
                at=now,
            )
        )
        uow.publish(
            TicketEscalated(
                ticket_no=a.ticket_no,
                trigger=trigger,
                reason=reason,
                supervisor=supervisor,
                handler_department=a.handler_department,
                escalated_at=now,
                cluster_id=cluster_id,
            )
        )
        return supervisor

    # --- timers -------------------------------------------------------------------------
    async def fire_progress_notice(self, uow: UnitOfWork, a: Assignment, now: datetime) -> bool:
        due = a.next_progress_notice_at
        if due is None or due > now or a.closed:
            return False  # another replica fired it between our select and this load
        nxt = due + timedelta(days=self.policy.progress_notice_every_days)
        while nxt <= now:  # a long outage owes one notice now, not one per missed period
            nxt += timedelta(days=self.policy.progress_notice_every_days)
        won = await claim(
            uow,
            update(Assignment)
            .where(
                Assignment.ticket_no == a.ticket_no,
                Assignment.next_progress_notice_at == due,
                Assignment.closed.is_(False),
            )
            .values(next_progress_notice_at=nxt)
            .execution_options(synchronize_session=False),
        )
        if won:
            uow.publish(
                ProgressNoticeDue(
                    ticket_no=a.ticket_no,
                    owner_department=a.owner_department,
                    handler_department=a.handler_department,
                    days_open=(now - a.received_at).days,
                    due_at=due,
                    latest=await self._latest(uow, a.ticket_no),
                )
            )
        return won

    async def fire_temporary_plan_missed(
        self, uow: UnitOfWork, a: Assignment, now: datetime
    ) -> bool:
        due = a.temporary_plan_due_at
        if due is None or due > now or a.closed:
            return False  # recorded, or fired by another replica since we selected it
        won = await claim(
            uow,
            update(Assignment)
            .where(Assignment.ticket_no == a.ticket_no, Assignment.temporary_plan_due_at == due)
            .values(temporary_plan_due_at=None)
            .execution_options(synchronize_session=False),
        )
        if won:
            await self.escalate(
                uow, a, "temporary_plan_missed", "no temporary plan within the hour", now
            )
        return won
