"""Intake's projections: what the other services decided, shown on the complaint.

Each is `on_event_name(event, uow)`, registered in consumer.py; the commands a caller
sends are in handlers.py."""

from __future__ import annotations

from services.intake.handlers import Transition, find_complaint, transition
from services.intake.models import Complaint, SurgeSeen, TimelineEntry
from shared.db import UnitOfWork, utcnow
from shared.events import (
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
    TicketEscalated,
    TicketMarkedMajor,
    TicketTransferred,
)


async def on_ticket_assigned(event: TicketAssigned, uow: UnitOfWork) -> None:
    """Show routing's decision on the complaint and its timeline."""
    complaint = await find_complaint(uow, event.ticket_no)
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
                "event_id": uow.event_id,
            },
        )
    )


def _timeline(
    uow: UnitOfWork, complaint: Complaint, kind: str, actor: str, at: object, **detail: object
) -> None:
    uow.session.add(
        TimelineEntry(complaint_id=complaint.id, kind=kind, actor=actor, at=at, detail=detail)
    )


async def on_sla_clocks_changed(
    event: SlaClocksStarted | SlaDeadlinesChanged, uow: UnitOfWork
) -> None:
    """Show the SLA clocks on the complaint (started, paused, moved by a calendar reload)."""
    complaint = await find_complaint(uow, event.ticket_no)
    if complaint is None:
        return
    known = {c["name"]: c for c in complaint.sla}
    for clock in event.clocks:
        known[clock.name] = {**known.get(clock.name, {}), **clock.model_dump(mode="json")}
    complaint.sla = list(known.values())


async def on_sla_clock_ended(event: SlaBreached | SlaMet, uow: UnitOfWork) -> None:
    """A clock was met or breached: show it, and put a breach on the timeline."""
    complaint = await find_complaint(uow, event.ticket_no)
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


async def on_ticket_transferred(event: TicketTransferred, uow: UnitOfWork) -> None:
    complaint = await find_complaint(uow, event.ticket_no)
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


async def on_ticket_escalated(event: TicketEscalated, uow: UnitOfWork) -> None:
    complaint = await find_complaint(uow, event.ticket_no)
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


async def on_ticket_marked_major(event: TicketMarkedMajor, uow: UnitOfWork) -> None:
    """Criteria only routing can see (a same-content surge) make a complaint major."""
    complaint = await find_complaint(uow, event.ticket_no)
    if complaint is None or event.reason in complaint.major_reasons:
        return
    complaint.major = True
    complaint.major_reasons = [*complaint.major_reasons, event.reason]
    if complaint.severity == "normal":
        complaint.severity = "major"
    _timeline(uow, complaint, "major", "routing", event.marked_at, reason=event.reason)


async def on_refund_changed(
    event: RefundRequested | RefundApproved | RefundRejected | RefundPaid, uow: UnitOfWork
) -> None:
    """Show refunds on the complaint as the refund service publishes them."""
    complaint = await find_complaint(uow, event.ticket_no)
    if complaint is None:
        return
    current = dict(complaint.refunds.get(event.refund_id, {}))
    if isinstance(event, RefundRequested | RefundApproved):
        status = event.status if isinstance(event, RefundRequested) else "approved"
        current.update(kind=event.kind, amount_fen=event.amount_fen, status=status)
        if event.tier is not None:  # the authority tier, as the refund service judged it
            tier = {"tier": event.tier, "tier_limit_fen": event.tier_limit_fen}
            current.update(tier, charge_type=event.charge_type)
    elif isinstance(event, RefundRejected):
        current.update(status="rejected")
    else:
        current.update(status="paid", amount_fen=event.amount_fen, billing_ref=event.billing_ref)
    complaint.refunds = {**complaint.refunds, event.refund_id: current}


async def on_survey_replied(event: SurveyReplied, uow: UnitOfWork) -> None:
    """The customer answered the satisfaction survey by SMS: same as feedback over the API."""
    complaint = await find_complaint(uow, event.ticket_no)
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


async def on_surge_alert_raised(event: SurgeAlertRaised, uow: UnitOfWork) -> None:
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


async def on_sp_dispute_opened(event: SpDisputeOpened, uow: UnitOfWork) -> None:
    complaint = await find_complaint(uow, event.ticket_no)
    if complaint is not None:
        complaint.sp_code = event.sp_code
