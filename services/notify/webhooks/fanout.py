"""Turn an event into one pending delivery per matching subscription, in the consuming
transaction (so an event is queued for each partner exactly once).

Only the entitled hear: a partner's subscription gets a ticket's events when that partner
transferred the ticket in (its id, or an org configured for it, is the ticket's source org) or
the ticket concerns one of its SP codes; a TMF621 hub's `query` filters further. Bodies are
minimised (`catalogue.mask`)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import select

from services.notify.models import TicketContact, WebhookDelivery, WebhookSubscription
from services.notify.webhooks import catalogue, hub_query
from shared.cloudevents import Envelope
from shared.db import UnitOfWork, utcnow
from shared.settings import ServiceSettings

LIVE = ("active", "paused")


def new_webhook_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def _delivery(
    sub: WebhookSubscription, event_id: str, event_type: str, ticket_no: str, body: dict[str, Any]
) -> WebhookDelivery:
    return WebhookDelivery(
        webhook_id=new_webhook_id(),
        subscription_id=sub.id,
        event_id=event_id,
        event_type=event_type,
        ticket_no=ticket_no,
        payload=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        status="pending",
        attempts=0,
        round_attempts=0,
        next_attempt_at=utcnow(),
    )


def entitled(sub: WebhookSubscription, row: TicketContact | None, settings: Any) -> bool:
    """Whether the subscription's owner may hear about this ticket at all."""
    if sub.owner_role == "ops":
        return True
    if row is None:
        return False
    orgs = {sub.owner, *settings.access_partner_orgs.get(sub.owner, [])}
    sp_codes = set(settings.access_partner_sp_codes.get(sub.owner, []))
    return (row.source_org is not None and row.source_org in orgs) or (
        row.sp_code is not None and row.sp_code in sp_codes
    )


async def fan_out(uow: UnitOfWork, envelope: Envelope, settings: Any = None) -> int:
    """Queue the event for every live subscription that wants it and may have it."""
    subs = (
        await uow.session.scalars(
            select(WebhookSubscription).where(WebhookSubscription.status.in_(LIVE))
        )
    ).all()
    if not subs:
        return 0
    settings = settings or ServiceSettings()
    ticket_no = envelope.event.ticket_no
    row = await uow.session.get(TicketContact, ticket_no)
    sp_code = getattr(envelope.event, "sp_code", None)
    if row is not None and sp_code:
        row.sp_code = sp_code
    queued = 0
    standard_type = catalogue.partner_type(envelope.event)
    tmf: list[tuple[str, dict[str, Any]]] | None = None
    for sub in subs:
        if not entitled(sub, row, settings):
            continue
        if sub.kind == "standard":
            if standard_type and (standard_type in sub.events or "*" in sub.events):
                body = catalogue.standard_payload(envelope, standard_type)
                uow.session.add(_delivery(sub, envelope.id, standard_type, ticket_no, body))
                queued += 1
            continue
        if tmf is None:
            tmf = catalogue.tmf_events(envelope, row)
        query = hub_query.parse(sub.query)  # checked when the listener registered
        for tmf_type, body in tmf:
            if tmf_type in sub.events and query.admits(tmf_type, body):
                event_id = f"{envelope.id}:{tmf_type}"
                uow.session.add(_delivery(sub, event_id, tmf_type, ticket_no, body))
                queued += 1
    return queued
