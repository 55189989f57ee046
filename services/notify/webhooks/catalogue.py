"""What partners may subscribe to, and the bodies they receive: Standard Webhooks payloads
(`type`, `timestamp`, `data`) and TMF621 event bodies. MSISDNs never leave unmasked."""

from __future__ import annotations

import uuid
from typing import Any

from services.notify.models import TicketContact
from services.notify.webhooks.hub_query import TMF_EVENT_TYPES
from shared.cloudevents import Envelope
from shared.events import (
    Event,
    RefundApproved,
    RefundPaid,
    SlaBreached,
    SlaWarning,
    SurgeResolved,
    TicketClassified,
    TicketEscalated,
    TicketReceived,
    TicketStatusChanged,
)
from shared.phone import mask_text

PARTNER_EVENTS: dict[type[Event], str] = {
    TicketReceived: "ticket.received",
    TicketClassified: "ticket.classified",
    TicketStatusChanged: "ticket.status_changed",
    TicketEscalated: "ticket.escalated",
    SlaWarning: "sla.warning",
    SlaBreached: "sla.breached",
    RefundApproved: "refund.approved",
    RefundPaid: "refund.paid",
    SurgeResolved: "surge.resolved",
}
EVENT_TYPES = tuple(sorted(PARTNER_EVENTS.values()))
__all__ = ["EVENT_TYPES", "TMF_EVENT_TYPES", "mask", "standard_payload", "tmf_events"]
TMF_BASE = "/tmf-api/troubleTicket/v4/troubleTicket"
TO_TMF_STATUS = {
    "received": "acknowledged",
    "accepted": "acknowledged",
    "in_progress": "inProgress",
    "replied": "inProgress",
    "reopened": "inProgress",
    "pending": "pending",
    "resolved": "resolved",
    "closed": "closed",
    "cancelled": "cancelled",
}
SEVERITY_TO_TMF = {"urgent": "Critical", "major": "Major", "normal": "Minor"}
"""Our judged severity in TMF's words, as intake's tmf_mapping shows it for our own channels
(the severity a TMF caller stated stays in intake; events carry our judgement)."""
DROPPED = frozenset({"msisdn", "customer_name", "location", "contact", "user_type"})
"""Fields a partner never receives: the number (it gets `msisdn_masked`), the customer's name,
address and account facts (minimum necessary, PIPL art. 6)."""


def partner_type(event: Event) -> str | None:
    return PARTNER_EVENTS.get(type(event))


def mask(value: Any) -> Any:
    """Drop personal fields and mask numbers, ID numbers and names inside any text."""
    if isinstance(value, dict):
        return {k: mask(v) for k, v in value.items() if k not in DROPPED}
    if isinstance(value, list):
        return [mask(v) for v in value]
    if isinstance(value, str):
        return mask_text(value)
    return value


def standard_payload(envelope: Envelope, type_name: str) -> dict[str, Any]:
    return {
        "type": type_name,
        "timestamp": envelope.time.isoformat(),
        "data": mask({"event_id": envelope.id, **envelope.event.model_dump(mode="json")}),
    }


# --- TMF621 ---------------------------------------------------------------------------------
def _ticket(ticket_no: str, **fields: Any) -> dict[str, Any]:
    body = {"id": ticket_no, "href": f"{TMF_BASE}/{ticket_no}", "@type": "TroubleTicket"}
    body.update({k: v for k, v in fields.items() if v is not None})
    return body


def _event(
    envelope: Envelope, event_type: str, ticket: dict[str, Any], **extra: Any
) -> tuple[str, dict[str, Any]]:
    return event_type, {
        "eventId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{envelope.id}/{event_type}")),
        "eventTime": envelope.time.isoformat(),
        "eventType": event_type,
        "@type": event_type,
        "domain": "troubleTicket",
        **extra,
        "event": {"troubleTicket": mask(ticket)},
    }


def tmf_events(envelope: Envelope, row: TicketContact | None) -> list[tuple[str, dict[str, Any]]]:
    """The TMF621 notifications an event makes (type, body); none for events TMF lacks."""
    event = envelope.event
    severity = SEVERITY_TO_TMF.get(row.severity or "") if row else None
    ticket_type = row.category if row else None
    if isinstance(event, TicketReceived):
        ticket = _ticket(
            event.ticket_no,
            status="acknowledged",
            description=event.description,
            creationDate=event.received_at.isoformat(),
            channel={"name": event.channel},
            relatedParty=[
                {"id": event.msisdn_masked, "role": "customer", "@referredType": "Individual"}
            ]
            if event.msisdn_masked
            else None,
        )
        return [_event(envelope, "TroubleTicketCreateEvent", ticket)]
    if isinstance(event, TicketClassified):
        ticket = _ticket(
            event.ticket_no,
            ticketType=event.category,
            severity=SEVERITY_TO_TMF.get(event.severity, event.severity),
        )
        return [
            _event(
                envelope,
                "TroubleTicketAttributeValueChangeEvent",
                ticket,
                fieldPath="ticketType,severity",
            )
        ]
    if isinstance(event, TicketStatusChanged):
        status = TO_TMF_STATUS.get(event.to_status, event.to_status)
        common = {"ticketType": ticket_type, "severity": severity, "status": status}
        changed = _ticket(
            event.ticket_no,
            **common,
            statusChangeReason=event.reason,
            statusChangeDate=event.changed_at.isoformat(),
            statusChange=[
                {
                    "status": status,
                    "changeDate": event.changed_at.isoformat(),
                    "changeReason": event.reason,
                }
            ],
        )
        out = [_event(envelope, "TroubleTicketStatusChangeEvent", changed)]
        if event.to_status == "pending":
            waiting = _ticket(event.ticket_no, **common, statusChangeReason=event.reason)
            out.append(_event(envelope, "TroubleTicketInformationRequiredEvent", waiting))
        if event.to_status == "resolved":
            resolved = _ticket(
                event.ticket_no, **common, resolutionDate=event.changed_at.isoformat()
            )
            out.append(_event(envelope, "TroubleTicketResolvedEvent", resolved))
        return out
    return []


def tmf_listener_path(event_type: str) -> str:
    """TMF621's listener resource under the registered callback: /listener/troubleTicket..."""
    return f"/listener/{event_type[0].lower()}{event_type[1:]}"
