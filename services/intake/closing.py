"""Every complaint finishes: intake's own timers close a survey nobody answered, archive
closed complaints, and anonymise archived ones past the retention period.

Each tick reads a bounded batch of due complaints by an index on (status, instant) and
handles each in its own transaction through the normal lifecycle (`transition`), so the
change is on the timeline and published like any other. Two replicas, or a restart, that
pick the same complaint meet the version check or the lifecycle's 409 and do nothing: the
complaint moves once. `now` is a parameter, so tests stand three years later without waiting.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from services.intake import domain
from services.intake.handlers import Transition, transition
from services.intake.models import Complaint, TimelineEntry
from services.intake.settings import IntakeSettings
from shared.db import Database, UnitOfWork
from shared.errors import DomainError, Problem

log = logging.getLogger(__name__)
SYSTEM = "system:lifecycle"
CUSTOMER_WORDS = frozenset({"text", "message", "reason", "reply", "comment", "resolution"})
"""Timeline detail keys that can hold what the customer (or an agent about them) wrote."""
Step = Callable[[UnitOfWork, Complaint, datetime], Awaitable[bool]]


async def _each(db: Database, ids: list[int], step: Step, now: datetime) -> int:
    done = 0
    for complaint_id in ids:
        try:
            async with db.uow() as uow:
                complaint = await uow.session.get(Complaint, complaint_id)
                if complaint is not None and await step(uow, complaint, now):
                    await uow.commit()
                    done += 1
        except (StaleDataError, Problem, DomainError) as exc:
            # another replica (or a person) moved it first: nothing to do
            log.info("lifecycle timer skipped complaint %s: %s", complaint_id, exc)
    return done


async def _due(db: Database, query: object) -> list[int]:
    async with db.sessions() as s:
        return list((await s.scalars(query)).all())  # type: ignore[call-overload]


class Closing:
    """The three timers, with their numbers from settings."""

    def __init__(self, settings: IntakeSettings) -> None:
        self.settings = settings

    async def tick(self, db: Database, now: datetime) -> int:
        """Run every timer once; how many complaints moved."""
        return (
            await self.close_unanswered(db, now)
            + await self.plan_archive(db, now)
            + await self.archive(db, now)
            + await self.anonymise(db, now)
        )

    async def close_unanswered(self, db: Database, now: datetime) -> int:
        """A survey without an answer in N days closes the complaint, feedback `no_reply`."""
        before = now - timedelta(days=self.settings.survey_no_reply_days)
        ids = await _due(
            db,
            select(Complaint.id)
            .where(Complaint.status == "resolved", Complaint.resolved_at <= before)
            .order_by(Complaint.resolved_at)
            .limit(self.settings.lifecycle_batch),
        )

        async def close(uow: UnitOfWork, c: Complaint, at: datetime) -> bool:
            if c.status != "resolved" or c.resolved_at is None or c.resolved_at > before:
                return False
            await transition(
                Transition(
                    ticket_no=c.ticket_no,
                    command="close_unanswered",
                    actor=SYSTEM,
                    reason="no_reply",
                    detail={"result": "no_reply", "satisfied": None},
                    at=at,
                ),
                uow=uow,
            )
            return True

        return await _each(db, ids, close, now)

    async def plan_archive(self, db: Database, now: datetime) -> int:
        """Give each newly closed complaint its archive time (working days need settings)."""
        ids = await _due(
            db,
            select(Complaint.id)
            .where(Complaint.status == "closed", Complaint.archive_due_at.is_(None))
            .limit(self.settings.lifecycle_batch),
        )

        async def plan(uow: UnitOfWork, c: Complaint, at: datetime) -> bool:
            if c.status != "closed" or c.archive_due_at is not None:
                return False
            closed = c.closed_at or at
            c.archive_due_at = domain.archive_due(closed, self.settings.archive_after_working_days)
            return True

        await _each(db, ids, plan, now)
        return 0  # planning is bookkeeping, not a move

    async def archive(self, db: Database, now: datetime) -> int:
        """Closed complaints become read-only `archived` when their archive time comes."""
        ids = await _due(
            db,
            select(Complaint.id)
            .where(Complaint.status == "closed", Complaint.archive_due_at <= now)
            .order_by(Complaint.archive_due_at)
            .limit(self.settings.lifecycle_batch),
        )

        async def archive(uow: UnitOfWork, c: Complaint, at: datetime) -> bool:
            if c.status != "closed" or c.archive_due_at is None or c.archive_due_at > at:
                return False
            await transition(
                Transition(ticket_no=c.ticket_no, command="archive", actor=SYSTEM, at=at),
                uow=uow,
            )
            return True

        return await _each(db, ids, archive, now)

    async def anonymise(self, db: Database, now: datetime) -> int:
        """Past the retention period the customer's data goes; what the reports count stays
        (channel, category, departments, clocks, satisfaction, refunds, dates)."""
        cutoff = domain.retention_cutoff(now, self.settings.retention_years)
        ids = await _due(
            db,
            select(Complaint.id)
            .where(
                Complaint.status == "archived",
                Complaint.archived_at <= cutoff,
                Complaint.anonymised_at.is_(None),
            )
            .order_by(Complaint.archived_at)
            .limit(self.settings.lifecycle_batch),
        )
        return await _each(db, ids, _anonymise, now)


async def _anonymise(uow: UnitOfWork, c: Complaint, at: datetime) -> bool:
    if c.anonymised_at is not None:
        return False
    c.msisdn = domain.ANONYMISED
    c.description = domain.ANONYMISED
    c.details = {}
    c.source_external_id = None if c.source_org is None else c.source_external_id
    if c.resolution:
        c.resolution = {**c.resolution, "resolution": domain.ANONYMISED}
    if c.feedback:
        c.feedback = {k: v for k, v in c.feedback.items() if k != "comment"}
    c.anonymised_at = at
    entries = (
        await uow.session.scalars(select(TimelineEntry).where(TimelineEntry.complaint_id == c.id))
    ).all()
    for entry in entries:
        # customers' words live in notes, replies and reasons too
        if any(k in entry.detail for k in CUSTOMER_WORDS):
            entry.detail = {
                k: domain.ANONYMISED if k in CUSTOMER_WORDS else v for k, v in entry.detail.items()
            }
    uow.session.add(
        TimelineEntry(
            complaint_id=c.id,
            kind="anonymised",
            actor=SYSTEM,
            at=at,
            detail={"retention_years_passed": True},
        )
    )
    return True
