"""Refund consumes ticket events to know which complaints exist and their status."""

from services.refund import handlers
from shared.consumer import Handler
from shared.events import Event, TicketReceived, TicketStatusChanged

HANDLERS: dict[type[Event], Handler] = {
    TicketReceived: handlers.ticket_received,
    TicketStatusChanged: handlers.ticket_status_changed,
}
