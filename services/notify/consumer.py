"""Notify consumes what customers, departments and partners must hear about."""

from __future__ import annotations

from collections.abc import Sequence

from services.notify.handlers import Notify
from services.notify.settings import NotifySettings
from services.notify.staff import StaffMail
from services.notify.webhooks.catalogue import PARTNER_EVENTS
from services.notify.webhooks.fanout import fan_out as queue_for_partners
from shared.cloudevents import Envelope
from shared.consumer import Handler
from shared.db import UnitOfWork
from shared.events import (
    Event,
    ProgressNoticeDue,
    RefundApproved,
    RefundPaid,
    SlaBreached,
    SlaClocksStarted,
    SlaDeadlineExtended,
    SlaWarning,
    SurgeResolved,
    TicketAssigned,
    TicketClassified,
    TicketEscalated,
    TicketReceived,
    TicketStatusChanged,
)


def _fan_out(settings: NotifySettings) -> Handler:
    async def fan_out(uow: UnitOfWork, envelope: Envelope) -> None:
        await queue_for_partners(uow, envelope, settings)

    return fan_out


def _chain(steps: Sequence[Handler]) -> Handler:
    async def handle(uow: UnitOfWork, envelope: Envelope) -> None:
        for step in steps:
            await step(uow, envelope)

    return handle


def make_handlers(settings: NotifySettings) -> dict[type[Event], Handler]:
    notify, staff = Notify(settings), StaffMail(settings)
    own: dict[type[Event], Handler] = {
        TicketReceived: notify.ticket_received,
        TicketClassified: notify.ticket_classified,
        TicketStatusChanged: notify.ticket_status_changed,
        TicketAssigned: notify.ticket_assigned,
        TicketEscalated: staff.ticket_escalated,
        SlaClocksStarted: notify.sla_clocks_started,
        SlaDeadlineExtended: notify.sla_deadline_extended,
        SlaWarning: staff.sla_warning,
        SlaBreached: staff.sla_breached,
        ProgressNoticeDue: staff.progress_notice_due,
        RefundApproved: notify.refund_approved,
        RefundPaid: notify.refund_paid,
        SurgeResolved: notify.surge_resolved,
    }
    # Partners hear after our own projection is updated (TMF bodies read it).
    return {
        event: _chain([handler, _fan_out(settings)]) if event in PARTNER_EVENTS else handler
        for event, handler in own.items()
    }
