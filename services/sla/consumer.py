"""SLA consumes the ticket lifecycle and routing's assignments."""

from services.sla.calendar_store import CalendarCache
from services.sla.handlers import Sla
from services.sla.settings import SlaSettings
from shared.consumer import Handler
from shared.events import (
    Event,
    TicketAssigned,
    TicketClassified,
    TicketMarkedMajor,
    TicketStatusChanged,
    TicketTransferred,
)


def make_handlers(sla: Sla) -> dict[type[Event], Handler]:
    return {
        TicketClassified: sla.on_ticket_classified,
        TicketStatusChanged: sla.on_ticket_status_changed,
        TicketAssigned: sla.on_ticket_assigned,
        TicketTransferred: sla.on_ticket_assigned,
        TicketMarkedMajor: sla.on_ticket_marked_major,
    }


HANDLERS = make_handlers(Sla(SlaSettings(), CalendarCache()))
