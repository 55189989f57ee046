"""Intake use cases: register a complaint; learn assignment and SLA state from events."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from services.intake import classifier, domain, sp_names
from services.intake.lifecycle import Command, IllegalTransition, Status, next_status
from services.intake.models import Complaint, TimelineEntry
from services.intake.policy import MajorPolicy
from services.intake.schemas import NewComplaint
from shared.auth import Principal
from shared.db import UnitOfWork, utcnow
from shared.errors import Conflict, Invalid, NotFound
from shared.events import (
    TERMINAL_STATUSES,
    TicketClassified,
    TicketNoteAdded,
    TicketReceived,
    TicketStatusChanged,
)
from shared.phone import mask_msisdn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegisterComplaint:
    data: NewComplaint
    principal: Principal
    accepting_department: str
    over_level: bool = False
    """Set for partner transfers (12300, consumer associations, ...) whatever the channel."""
    source_org: str | None = None
    """The partner filing it when `data.source` is not given (TMF621 callers)."""
    source_external_id: str | None = None
    major_policy: MajorPolicy | None = None
    """The settings' MajorPolicy (INTAKE_MAJOR__...); None: the seed defaults."""
    user_type_asserters: frozenset[str] = frozenset()
    """Roles trusted to state `user_type` (IntakeSettings.user_type_asserters); none: nobody."""


async def find_by_source(uow: UnitOfWork, org: str, external_id: str) -> Complaint | None:
    """The complaint a partner already transferred under its own id, if any."""
    return await uow.session.scalar(
        select(Complaint).where(
            Complaint.source_org == org, Complaint.source_external_id == external_id
        )
    )


async def register_complaint(cmd: RegisterComplaint, uow: UnitOfWork) -> Complaint:
    """Record, classify and judge a complaint; stage its events in the same transaction."""
    data = cmd.data
    if data.user_type is not None and not cmd.principal.roles & cmd.user_type_asserters:
        raise Invalid(
            "user_type",
            "only the customer-profile source may state it "
            f"(roles: {', '.join(sorted(cmd.user_type_asserters)) or 'none configured'})",
        )
    now = utcnow()
    classification = classifier.classify(data.description, hint=data.category, channel=data.channel)
    severity = domain.judge_severity(
        data.description,
        domain.MajorFacts(
            media_involved=data.media_involved or domain.is_media(data.channel),
            lawsuit=data.lawsuit,
            business_disrupted=data.business_disrupted,
            joint_complainants=data.joint_complainants,
        ),
        cmd.major_policy,
    )
    source_org = data.source.org if data.source else cmd.source_org
    external_id = data.source.external_id if data.source else cmd.source_external_id
    over_level = cmd.over_level or external_id is not None or domain.is_over_level(data.channel)
    details = data.model_dump(
        mode="json",
        exclude={
            "channel",
            "msisdn",
            "description",
            "category",
            "desk_id",
            "store_id",
            "user_type",
            "source",
            "sp_code",
        },
        exclude_defaults=True,
    )
    if data.msisdn is None:
        details["no_customer_reason"] = details.get("no_customer_reason") or (
            f"no customer number given ({data.channel} via {cmd.principal.sub})"
        )
    sp_code, sp_found = sp_names.for_complaint(
        data.sp_code, data.description, classification.category
    )
    if sp_found is not None:  # recognised, not confirmed: reported, never an access grant
        details["sp_recognised"] = asdict(sp_found)
    if data.user_type is not None:
        details["user_type_asserted_by"] = cmd.principal.sub
    hints = classifier.detect_major_hints(data.description)
    if hints.reasons:
        details["text_hints"] = list(hints.reasons)  # for the agent; the flags decide `major`
    complaint = Complaint(
        ticket_no=await _unique_ticket_no(uow, now),
        channel=data.channel,
        msisdn=data.msisdn,
        description=data.description,
        category_hint=data.category,
        category=classification.category,
        category_confidence=classification.confidence,
        category_rule=classification.rule,
        severity=severity.level,
        major=severity.major,
        major_reasons=severity.reasons,
        over_level=over_level,
        status="received",
        user_type=data.user_type,
        accepting_department=cmd.accepting_department,
        accepted_by=cmd.principal.sub,
        desk_id=data.desk_id,
        store_id=data.store_id,
        source_org=source_org,
        source_external_id=external_id,
        sp_code=data.sp_code,
        details=details,
        sla=[],
        refunds={},
        reopen_count=0,
        received_at=now,
    )
    uow.session.add(complaint)
    await uow.session.flush()
    uow.session.add(
        TimelineEntry(
            complaint_id=complaint.id,
            kind="status",
            actor=cmd.principal.sub,
            at=now,
            detail={"from": None, "to": "received", "channel": data.channel},
        )
    )
    common = {
        "ticket_no": complaint.ticket_no,
        "channel": data.channel,
        "desk_id": data.desk_id,
        "store_id": data.store_id,
        "accepting_department": cmd.accepting_department,
        "over_level": over_level,
        "received_at": now,
    }
    uow.publish(
        TicketReceived(
            **common,
            msisdn=data.msisdn,
            msisdn_masked=mask_msisdn(data.msisdn) if data.msisdn else None,
            no_customer_reason=details.get("no_customer_reason"),
            user_type=data.user_type,
            description=data.description,
            category_hint=data.category,
            location=data.location,
            source_org=source_org,
            email=str(data.email) if data.email else None,
        )
    )
    uow.publish(
        TicketStatusChanged(
            ticket_no=complaint.ticket_no,
            from_status=None,
            to_status="received",
            actor=cmd.principal.sub,
            changed_at=now,
        )
    )
    uow.publish(
        TicketClassified(
            **common,
            category=classification.category,
            confidence=classification.confidence,
            rule=classification.rule,
            severity=severity.level,
            major=severity.major,
            major_reasons=severity.reasons,
            sp_code=sp_code,
            product=sp_found.product if sp_found else None,
        )
    )
    log.info(
        "complaint registered",
        extra={
            "ticket_no": complaint.ticket_no,
            "channel": data.channel,
            "category": classification.category,
            "severity": severity.level,
            "major": severity.major,
        },
    )
    return complaint


async def load(uow: UnitOfWork, ticket_no: str) -> Complaint:
    complaint = await find_complaint(uow, ticket_no)
    if complaint is None:
        raise NotFound(f"no complaint {ticket_no}")
    return complaint


@dataclass(frozen=True)
class Transition:
    """A lifecycle command with what the caller said (reason, message, resolution, ...)."""

    ticket_no: str
    command: Command
    actor: str
    reason: str | None = None
    detail: dict[str, object] | None = None
    satisfied: bool | None = None
    at: datetime | None = None
    """When it happened (the system's timers pass their clock); now by default."""


def _illegal(exc: IllegalTransition) -> Conflict:
    return Conflict(
        title="Illegal transition",
        detail=f"{exc}; allowed from {exc.status}: {', '.join(exc.allowed) or 'none'}",
        type_="/problems/illegal-transition",
        status_now=exc.status,
        allowed=exc.allowed,
    )


async def transition(cmd: Transition, uow: UnitOfWork) -> Complaint:
    """Move a complaint through its lifecycle; record the change and publish it."""
    complaint = await load(uow, cmd.ticket_no)
    try:
        move = next_status(
            cmd.command,
            complaint.status,  # type: ignore[arg-type]
            held_from=complaint.held_from,  # type: ignore[arg-type]
            satisfied=cmd.satisfied,
        )
    except IllegalTransition as exc:
        raise _illegal(exc) from exc
    now = cmd.at or utcnow()
    detail = dict(cmd.detail or {})
    if cmd.command == "hold":
        complaint.held_from = move.from_
    elif cmd.command == "resume":
        complaint.held_from = None
    elif cmd.command == "resolve":
        complaint.resolution = {**detail, "by": cmd.actor, "at": now.isoformat()}
        complaint.resolved_at = now
    elif cmd.command in ("feedback", "close_unanswered"):
        complaint.feedback = {**detail, "at": now.isoformat()}
        if move.to == "reopened":
            complaint.reopen_count += 1
            complaint.resolved_at = None
    elif cmd.command == "archive":
        complaint.archived_at = now
    if move.to == "closed":
        complaint.closed_at, complaint.archive_due_at = now, None  # planned by the archiver
    complaint.status = move.to
    _record_status(uow, complaint, move.from_, move.to, cmd.actor, cmd.reason, detail, now)
    uow.publish(
        TicketStatusChanged(
            ticket_no=complaint.ticket_no,
            from_status=move.from_,
            to_status=move.to,
            actor=cmd.actor,
            reason=cmd.reason,
            changed_at=now,
            satisfied=cmd.satisfied,
            resolution=_result_text(complaint) if move.to == "resolved" else None,
        )
    )
    return complaint


def _result_text(complaint: Complaint) -> str | None:
    text = (complaint.resolution or {}).get("resolution")
    return str(text) if text else None


def _record_status(
    uow: UnitOfWork,
    complaint: Complaint,
    from_: Status | None,
    to: Status,
    actor: str,
    reason: str | None,
    detail: dict[str, object],
    at: object,
) -> None:
    uow.session.add(
        TimelineEntry(
            complaint_id=complaint.id,
            kind="status",
            actor=actor,
            at=at,
            detail={"from": from_, "to": to, "reason": reason, **detail},
        )
    )


@dataclass(frozen=True)
class AddNote:
    ticket_no: str
    author: str
    text: str


async def add_note(cmd: AddNote, uow: UnitOfWork) -> TimelineEntry:
    """Notes are append-only: there is no edit or delete; an archived complaint is read-only."""
    ticket_no, author, text = cmd.ticket_no, cmd.author, cmd.text
    complaint = await load(uow, ticket_no)
    if complaint.status == "archived":
        raise _illegal(IllegalTransition("add a note to", "archived"))
    now = utcnow()
    entry = TimelineEntry(
        complaint_id=complaint.id, kind="note", actor=author, at=now, detail={"text": text}
    )
    uow.session.add(entry)
    complaint.updated_at = now  # bumps the version: notes and status changes serialise
    uow.publish(TicketNoteAdded(ticket_no=ticket_no, author=author, text=text, added_at=now))
    return entry


@dataclass(frozen=True)
class Reclassify:
    """An agent (or a TMF621 ticketType change) corrects the category, with who and why."""

    ticket_no: str
    category: str
    actor: str
    reason: str


async def reclassify(cmd: Reclassify, uow: UnitOfWork) -> Complaint:
    """Routing and SLA learn the new category from `TicketClassified`."""
    ticket_no, category, actor, reason = cmd.ticket_no, cmd.category, cmd.actor, cmd.reason
    complaint = await load(uow, ticket_no)
    if complaint.status in TERMINAL_STATUSES:
        raise Conflict(title="Complaint is closed", detail=f"{ticket_no} is {complaint.status}")
    now = utcnow()
    before = complaint.category
    recognised = complaint.details.get("sp_recognised") or {}
    complaint.category = category
    complaint.category_confidence = 1.0
    complaint.category_rule = f"manual:{actor}"
    uow.session.add(
        TimelineEntry(
            complaint_id=complaint.id,
            kind="reclassified",
            actor=actor,
            at=now,
            detail={"from": before, "to": category, "reason": reason},
        )
    )
    uow.publish(
        TicketClassified(
            ticket_no=ticket_no,
            category=category,
            confidence=1.0,
            rule=f"manual:{actor}",
            severity=complaint.severity,
            major=complaint.major,
            major_reasons=complaint.major_reasons,
            over_level=complaint.over_level,
            channel=complaint.channel,
            accepting_department=complaint.accepting_department,
            desk_id=complaint.desk_id,
            store_id=complaint.store_id,
            received_at=complaint.received_at,
            classified_by=actor,
            sp_code=complaint.sp_code or recognised.get("sp_code"),
            product=recognised.get("product"),
        )
    )
    return complaint


async def _unique_ticket_no(uow: UnitOfWork, now: object) -> str:
    for _ in range(20):
        candidate = domain.new_ticket_no(now)  # type: ignore[arg-type]
        exists = await uow.session.scalar(
            select(Complaint.id).where(Complaint.ticket_no == candidate)
        )
        if exists is None:
            return candidate
    raise IntegrityError("ticket number space exhausted", None, Exception())


async def find_complaint(uow: UnitOfWork, ticket_no: str) -> Complaint | None:
    return await uow.session.scalar(select(Complaint).where(Complaint.ticket_no == ticket_no))
