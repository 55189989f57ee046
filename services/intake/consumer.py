"""Intake consumes the other services' decisions to show them on the complaint."""

from services.intake import incidents, projections
from shared.consumer import Handler
from shared.events import (
    Event,
    IncidentResolved,
    RefundApproved,
    RefundPaid,
    RefundRejected,
    RefundRequested,
    SlaBreached,
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

HANDLERS: dict[type[Event], Handler] = {
    TicketAssigned: projections.on_ticket_assigned,
    TicketTransferred: projections.on_ticket_transferred,
    TicketEscalated: projections.on_ticket_escalated,
    TicketMarkedMajor: projections.on_ticket_marked_major,
    SlaClocksStarted: projections.on_sla_clocks_changed,
    SlaDeadlinesChanged: projections.on_sla_clocks_changed,
    SlaBreached: projections.on_sla_clock_ended,
    SlaMet: projections.on_sla_clock_ended,
    RefundRequested: projections.on_refund_changed,
    RefundApproved: projections.on_refund_changed,
    RefundRejected: projections.on_refund_changed,
    RefundPaid: projections.on_refund_changed,
    SurveyReplied: projections.on_survey_replied,
    SurgeAlertRaised: projections.on_surge_alert_raised,
    SpDisputeOpened: projections.on_sp_dispute_opened,
    IncidentResolved: incidents.on_incident_resolved,
}
