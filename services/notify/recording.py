"""Recording a notification: rendered from its template, masked for display, unique per
(triggering event, template, recipient), announced with NotificationRecorded. Sending is the
dispatcher's job, later."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from services.notify.models import Notification, TicketContact
from services.notify.templates import template
from shared.db import UnitOfWork, utcnow
from shared.events import NotificationRecorded
from shared.phone import mask_msisdn


async def contact(uow: UnitOfWork, ticket_no: str) -> TicketContact:
    """The ticket's contact row, created empty if this is the first we hear of it."""
    row = await uow.session.get(TicketContact, ticket_no)
    if row is None:
        row = TicketContact(ticket_no=ticket_no, first_reply_sent=False, survey_open=False)
        uow.session.add(row)
    return row


def mask_email(address: str) -> str:
    local, _, domain_part = address.partition("@")
    return f"{local[:2]}***@{domain_part}" if domain_part else "***"


NO_CUSTOMER = "no customer number"


async def record_without_customer(
    uow: UnitOfWork,
    source_event_id: str,
    name: str,
    ticket_no: str,
    reason: str,
    values: dict[str, str],
) -> Notification | None:
    """A customer message a ticket without a customer would have had: recorded as suppressed
    with the reason (so the ticket's log says why nobody was told), never sent."""
    values = {"ticket_no": ticket_no, **values}
    n = await record(uow, source_event_id, name, "", values, ticket_no=ticket_no, alternate=True)
    if n is not None:
        n.status, n.last_error = "suppressed", f"{NO_CUSTOMER}: {reason}"
    return n


async def record(
    uow: UnitOfWork,
    source_event_id: str,
    name: str,
    recipient: str,
    values: dict[str, str],
    *,
    ticket_no: str | None = None,
    alternate: bool = False,
    send_after: datetime | None = None,
) -> Notification | None:
    """Stage one notification (and NotificationRecorded) for the event that triggered it;
    None if already recorded."""
    t = template(name)
    key = (source_event_id, name, recipient)
    existing = await uow.session.scalar(
        select(Notification.id).where(
            Notification.source_event_id == key[0],
            Notification.template == key[1],
            Notification.recipient == key[2],
        )
    )
    if existing is not None:
        return None
    rendered = t.render(values, alternate=alternate)
    masked = (
        ""
        if not recipient
        else mask_msisdn(recipient)
        if t.channel == "sms"
        else mask_email(recipient)
    )
    n = Notification(
        ticket_no=ticket_no,
        source_event_id=source_event_id,
        channel=t.channel,
        template=name,
        recipient=recipient,
        recipient_masked=masked or "",
        subject=rendered.subject,
        body=rendered.body,
        status="pending" if recipient else "suppressed",
        urgent=t.urgent,
        required=t.required,
        attempts=0,
        send_after=send_after or utcnow(),
    )
    uow.session.add(n)
    await uow.session.flush()
    if ticket_no:
        uow.publish(
            NotificationRecorded(
                ticket_no=ticket_no,
                notification_id=str(n.id),
                channel=n.channel,
                template=name,
                recipient_masked=n.recipient_masked,
                status=n.status,
            )
        )
    return n
