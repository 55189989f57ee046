"""Refund consumes ticket events to know which complaints exist and their status."""

from services.refund import handlers
from shared.consumer import Handler
from shared.events import Event, TicketReceived, TicketStatusChanged

HANDLERS: dict[type[Event], Handler] = {
    TicketReceived: handlers.on_ticket_received,
    TicketStatusChanged: handlers.on_ticket_status_changed,
}
