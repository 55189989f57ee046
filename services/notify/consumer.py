"""Notify consumes what customers, departments and partners must hear about."""

from __future__ import annotations

from collections.abc import Sequence

from services.notify.handlers import Notify
from services.notify.settings import NotifySettings
from services.notify.staff import StaffMail
from services.notify.staff_alerts import StaffAlerts
from services.notify.webhooks.catalogue import PARTNER_EVENTS
from services.notify.webhooks.fanout import fan_out as queue_for_partners
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
    StaffAlertRaised,
    SurgeResolved,
    TicketAssigned,
    TicketClassified,
    TicketEscalated,
    TicketReceived,
    TicketStatusChanged,
)


def _fan_out(settings: NotifySettings) -> Handler:
    async def fan_out(event: Event, uow: UnitOfWork) -> None:
        await queue_for_partners(uow, uow.consumed, settings)

    return fan_out


def _chain(steps: Sequence[Handler]) -> Handler:
    async def handle(event: Event, uow: UnitOfWork) -> None:
        for step in steps:
            await step(event, uow)

    return handle


def make_handlers(settings: NotifySettings) -> dict[type[Event], Handler]:
    notify, staff = Notify(settings), StaffMail(settings)
    own: dict[type[Event], Handler] = {
        TicketReceived: notify.on_ticket_received,
        TicketClassified: notify.on_ticket_classified,
        TicketStatusChanged: notify.on_ticket_status_changed,
        TicketAssigned: notify.on_ticket_assigned,
        TicketEscalated: staff.on_ticket_escalated,
        SlaClocksStarted: notify.on_sla_clocks_started,
        SlaDeadlineExtended: notify.on_sla_deadline_extended,
        SlaWarning: staff.on_sla_warning,
        SlaBreached: staff.on_sla_breached,
        ProgressNoticeDue: staff.on_progress_notice_due,
        StaffAlertRaised: StaffAlerts(settings).on_staff_alert_raised,
        RefundApproved: notify.on_refund_approved,
        RefundPaid: notify.on_refund_paid,
        SurgeResolved: notify.on_surge_resolved,
    }
    # Partners hear after our own projection is updated (TMF bodies read it).
    return {
        event: _chain([handler, _fan_out(settings)]) if event in PARTNER_EVENTS else handler
        for event, handler in own.items()
    }
