"""Routing consumes classifications, lifecycle changes, SLA breaches and major flags."""

from services.routing.handlers import Routing
from services.routing.settings import RoutingSettings
from shared.consumer import Handler
from shared.events import (
    Event,
    SlaBreached,
    TicketClassified,
    TicketMarkedMajor,
    TicketNoteAdded,
    TicketReceived,
    TicketStatusChanged,
)


def make_handlers(settings: RoutingSettings) -> dict[type[Event], Handler]:
    routing = Routing(settings)
    return {
        TicketReceived: routing.on_ticket_received,
        TicketClassified: routing.on_ticket_classified,
        TicketStatusChanged: routing.on_ticket_status_changed,
        SlaBreached: routing.on_sla_breached,
        TicketMarkedMajor: routing.on_ticket_marked_major,
        TicketNoteAdded: routing.on_ticket_note_added,
    }


HANDLERS = make_handlers(RoutingSettings())
