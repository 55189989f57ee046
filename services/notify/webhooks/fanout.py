"""Turn an event into one pending delivery per matching subscription, in the consuming
transaction (so an event is queued for each partner exactly once)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import select

from services.notify.models import TicketContact, WebhookDelivery, WebhookSubscription
from services.notify.webhooks import catalogue, hub_query
from shared.cloudevents import Envelope
from shared.db import UnitOfWork, utcnow

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


async def fan_out(uow: UnitOfWork, envelope: Envelope) -> int:
    """Queue the event for every live subscription that wants it; returns how many."""
    subs = (
        await uow.session.scalars(
            select(WebhookSubscription).where(WebhookSubscription.status.in_(LIVE))
        )
    ).all()
    if not subs:
        return 0
    ticket_no = envelope.event.ticket_no
    queued = 0
    standard_type = catalogue.partner_type(envelope.event)
    tmf: list[tuple[str, dict[str, Any]]] | None = None
    for sub in subs:
        if sub.kind == "standard":
            if standard_type and (standard_type in sub.events or "*" in sub.events):
                body = catalogue.standard_payload(envelope, standard_type)
                uow.session.add(_delivery(sub, envelope.id, standard_type, ticket_no, body))
                queued += 1
            continue
        if tmf is None:
            row = await uow.session.get(TicketContact, ticket_no)
            tmf = catalogue.tmf_events(envelope, row)
        query = hub_query.parse(sub.query)  # checked when the listener registered
        for tmf_type, body in tmf:
            if tmf_type in sub.events and query.admits(tmf_type, body):
                event_id = f"{envelope.id}:{tmf_type}"
                uow.session.add(_delivery(sub, event_id, tmf_type, ticket_no, body))
                queued += 1
    return queued
