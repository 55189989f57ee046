"""Intake consumes the other services' decisions to show them on the complaint."""

from services.intake import handlers
from shared.consumer import Handler
from shared.events import (
    Event,
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
    TicketAssigned: handlers.ticket_assigned,
    TicketTransferred: handlers.ticket_transferred,
    TicketEscalated: handlers.ticket_escalated,
    TicketMarkedMajor: handlers.ticket_marked_major,
    SlaClocksStarted: handlers.sla_clocks_changed,
    SlaDeadlinesChanged: handlers.sla_clocks_changed,
    SlaBreached: handlers.sla_clock_ended,
    SlaMet: handlers.sla_clock_ended,
    RefundRequested: handlers.refund_changed,
    RefundApproved: handlers.refund_changed,
    RefundRejected: handlers.refund_changed,
    RefundPaid: handlers.refund_changed,
    SurveyReplied: handlers.survey_replied,
    SurgeAlertRaised: handlers.surge_alert_raised,
    SpDisputeOpened: handlers.sp_dispute_opened,
}
