"""Intake use cases: register a complaint; learn assignment and SLA state from events."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from services.intake import classifier, domain
from services.intake.lifecycle import Command, IllegalTransition, Status, next_status
from services.intake.models import Complaint, SurgeSeen, TimelineEntry
from services.intake.schemas import NewComplaint
from shared.auth import Principal
from shared.cloudevents import Envelope
from shared.db import UnitOfWork, utcnow
from shared.errors import Problem
from shared.events import (
    TERMINAL_STATUSES,
    RefundApproved,
    RefundPaid,
    RefundRejected,
    RefundRequested,
    SlaBreached,
    SlaClock,
    SlaClocksStarted,
    SlaDeadlinesChanged,
    SlaMet,
    SpDisputeOpened,
    SurgeAlertRaised,
    SurveyReplied,
    TicketAssigned,
    TicketClassified,
    TicketEscalated,
    TicketMarkedMajor,
    TicketNoteAdded,
    TicketReceived,
    TicketStatusChanged,
    TicketTransferred,
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


async def find_by_source(uow: UnitOfWork, org: str, external_id: str) -> Complaint | None:
    """The complaint a partner already transferred under its own id, if any."""
    return await uow.session.scalar(
        select(Complaint).where(
            Complaint.source_org == org, Complaint.source_external_id == external_id
        )
    )


async def register_complaint(cmd: RegisterComplaint, *, uow: UnitOfWork) -> Complaint:
    """Record, classify and judge a complaint; stage its events in the same transaction."""
    data = cmd.data
    now = utcnow()
    classification = classifier.classify(data.description, hint=data.category, channel=data.channel)
    severity = domain.judge_severity(
        data.description,
        domain.MajorFacts(
            media_involved=data.media_involved,
            lawsuit=data.lawsuit,
            business_disrupted=data.business_disrupted,
            joint_complainants=data.joint_complainants,
        ),
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
        },
        exclude_defaults=True,
    )
    if data.msisdn is None:
        details["no_customer_reason"] = details.get("no_customer_reason") or (
            f"no customer number given ({data.channel} via {cmd.principal.sub})"
        )
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
    complaint = await _complaint(uow, ticket_no)
    if complaint is None:
        raise Problem(404, "Not Found", f"no complaint {ticket_no}")
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


def _illegal(exc: IllegalTransition) -> Problem:
    return Problem(
        409,
        "Illegal transition",
        f"{exc}; allowed from {exc.status}: {', '.join(exc.allowed) or 'none'}",
        type_="/problems/illegal-transition",
        status_now=exc.status,
        allowed=exc.allowed,
    )


async def transition(cmd: Transition, *, uow: UnitOfWork) -> Complaint:
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


async def add_note(uow: UnitOfWork, ticket_no: str, author: str, text: str) -> TimelineEntry:
    """Notes are append-only: there is no edit or delete; an archived complaint is read-only."""
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


async def reclassify(
    uow: UnitOfWork, ticket_no: str, category: str, actor: str, reason: str
) -> Complaint:
    """An agent corrects the category; routing and SLA learn it from the event."""
    complaint = await load(uow, ticket_no)
    if complaint.status in TERMINAL_STATUSES:
        raise Problem(409, "Complaint is closed", f"{ticket_no} is {complaint.status}")
    now = utcnow()
    before = complaint.category
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


async def _complaint(uow: UnitOfWork, ticket_no: str) -> Complaint | None:
    return await uow.session.scalar(select(Complaint).where(Complaint.ticket_no == ticket_no))


async def ticket_assigned(uow: UnitOfWork, envelope: Envelope) -> None:
    """Show routing's decision on the complaint and its timeline."""
    event = envelope.event
    assert isinstance(event, TicketAssigned)
    complaint = await _complaint(uow, event.ticket_no)
    if complaint is None:
        return
    complaint.owner_department = event.owner_department
    complaint.handler_department = event.handler_department
    complaint.assignee = event.assignee
    uow.session.add(
        TimelineEntry(
            complaint_id=complaint.id,
            kind="assignment",
            actor="routing",
            at=event.assigned_at,
            detail={
                "owner": event.owner_department,
                "handler": event.handler_department,
                "assignee": event.assignee,
                "reason": event.reason,
                "event_id": envelope.id,
            },
        )
    )


def _timeline(
    uow: UnitOfWork, complaint: Complaint, kind: str, actor: str, at: object, **detail: object
) -> None:
    uow.session.add(
        TimelineEntry(complaint_id=complaint.id, kind=kind, actor=actor, at=at, detail=detail)
    )


async def sla_clocks_changed(uow: UnitOfWork, envelope: Envelope) -> None:
    """Show the SLA clocks on the complaint (started, paused, moved by a calendar reload)."""
    event = envelope.event
    assert isinstance(event, SlaClocksStarted | SlaDeadlinesChanged)
    complaint = await _complaint(uow, event.ticket_no)
    if complaint is None:
        return
    known = {c["name"]: c for c in complaint.sla}
    for clock in event.clocks:
        known[clock.name] = {**known.get(clock.name, {}), **clock.model_dump(mode="json")}
    complaint.sla = list(known.values())


async def sla_clock_ended(uow: UnitOfWork, envelope: Envelope) -> None:
    """A clock was met or breached: show it, and put a breach on the timeline."""
    event = envelope.event
    assert isinstance(event, SlaBreached | SlaMet)
    complaint = await _complaint(uow, event.ticket_no)
    if complaint is None:
        return
    # A clock met after its deadline stays breached (及时率) but records that it was met
    # (回复率 counts a late reply as a reply).
    late = isinstance(event, SlaMet) and event.met_at > event.due_at
    state = "breached" if isinstance(event, SlaBreached) or late else "met"
    clock = SlaClock(name=event.clock, due_at=event.due_at, state=state)
    known = {c["name"]: c for c in complaint.sla}
    known[event.clock] = {**known.get(event.clock, {}), **clock.model_dump(mode="json")}
    if isinstance(event, SlaMet):
        known[event.clock]["met_at"] = event.met_at.isoformat()
    complaint.sla = list(known.values())
    if state == "breached":
        _timeline(uow, complaint, "sla_breached", "sla", utcnow(), clock=event.clock)


async def ticket_transferred(uow: UnitOfWork, envelope: Envelope) -> None:
    event = envelope.event
    assert isinstance(event, TicketTransferred)
    complaint = await _complaint(uow, event.ticket_no)
    if complaint is None:
        return
    complaint.handler_department = event.to_department
    complaint.assignee = None
    _timeline(
        uow,
        complaint,
        "transfer",
        event.actor,
        event.transferred_at,
        **{"from": event.from_department, "to": event.to_department, "reason": event.reason},
    )


async def ticket_escalated(uow: UnitOfWork, envelope: Envelope) -> None:
    event = envelope.event
    assert isinstance(event, TicketEscalated)
    complaint = await _complaint(uow, event.ticket_no)
    if complaint is None:
        return
    complaint.supervisor = event.supervisor
    _timeline(
        uow,
        complaint,
        "escalation",
        "routing",
        event.escalated_at,
        trigger=event.trigger,
        reason=event.reason,
        supervisor=event.supervisor,
    )


async def ticket_marked_major(uow: UnitOfWork, envelope: Envelope) -> None:
    """Criteria only routing can see (a same-content surge) make a complaint major."""
    event = envelope.event
    assert isinstance(event, TicketMarkedMajor)
    complaint = await _complaint(uow, event.ticket_no)
    if complaint is None or event.reason in complaint.major_reasons:
        return
    complaint.major = True
    complaint.major_reasons = [*complaint.major_reasons, event.reason]
    if complaint.severity == "normal":
        complaint.severity = "major"
    _timeline(uow, complaint, "major", "routing", event.marked_at, reason=event.reason)


async def refund_changed(uow: UnitOfWork, envelope: Envelope) -> None:
    """Show refunds on the complaint as the refund service publishes them."""
    event = envelope.event
    complaint = await _complaint(uow, event.ticket_no)
    if complaint is None:
        return
    assert isinstance(event, RefundRequested | RefundApproved | RefundRejected | RefundPaid)
    current = dict(complaint.refunds.get(event.refund_id, {}))
    if isinstance(event, RefundRequested):
        current.update(kind=event.kind, amount_fen=event.amount_fen, status=event.status)
    elif isinstance(event, RefundApproved):
        current.update(kind=event.kind, amount_fen=event.amount_fen, status="approved")
    elif isinstance(event, RefundRejected):
        current.update(status="rejected")
    else:
        current.update(status="paid", amount_fen=event.amount_fen, billing_ref=event.billing_ref)
    complaint.refunds = {**complaint.refunds, event.refund_id: current}


async def survey_replied(uow: UnitOfWork, envelope: Envelope) -> None:
    """The customer answered the satisfaction survey by SMS: same as feedback over the API."""
    event = envelope.event
    assert isinstance(event, SurveyReplied)
    complaint = await _complaint(uow, event.ticket_no)
    if complaint is None or complaint.status != "resolved":
        return  # a late or repeated answer changes nothing
    await transition(
        Transition(
            ticket_no=event.ticket_no,
            command="feedback",
            actor="customer:sms",
            satisfied=event.satisfied,
            detail={
                "satisfied": event.satisfied,
                "score": event.score,
                "via": "sms",
                "reply": event.raw_reply,
            },
        ),
        uow=uow,
    )


async def surge_alert_raised(uow: UnitOfWork, envelope: Envelope) -> None:
    event = envelope.event
    assert isinstance(event, SurgeAlertRaised)
    seen = await uow.session.get(SurgeSeen, event.cluster_id)
    if seen is None:
        uow.session.add(
            SurgeSeen(
                cluster_id=event.cluster_id,
                level=event.level,
                count=event.count,
                first_raised_at=event.raised_at,
            )
        )
    elif event.count >= seen.count:
        seen.level, seen.count = event.level, event.count


async def sp_dispute_opened(uow: UnitOfWork, envelope: Envelope) -> None:
    event = envelope.event
    assert isinstance(event, SpDisputeOpened)
    complaint = await _complaint(uow, event.ticket_no)
    if complaint is not None:
        complaint.sp_code = event.sp_code
