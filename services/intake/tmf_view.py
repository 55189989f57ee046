"""A complaint as a TMF621 TroubleTicket (the read side of the facade)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from services.intake import access, handlers
from services.intake import tmf_mapping as mapping
from services.intake.models import Complaint, TimelineEntry
from services.intake.tmf_schemas import (
    BASE,
    SCHEMA_LOCATION,
    AttachmentRefOrValue,
    ChannelRef,
    RelatedEntity,
    RelatedParty,
    TmfNote,
    TmfStatusChange,
    TroubleTicket,
    TroubleTicketRelationship,
)
from shared.auth import Principal
from shared.db import UnitOfWork
from shared.phone import mask_msisdn


async def load_with_timeline(
    uow: UnitOfWork, ticket_no: str
) -> tuple[Complaint, list[TimelineEntry]]:
    complaint = await handlers.load(uow, ticket_no)
    timeline = (
        await uow.session.scalars(
            select(TimelineEntry)
            .where(TimelineEntry.complaint_id == complaint.id)
            .order_by(TimelineEntry.id)
        )
    ).all()
    return complaint, list(timeline)


def _customer(c: Complaint, principal: Principal) -> list[RelatedParty]:
    if c.msisdn is None:
        return []
    full = principal.has_any(*access.RULES.full_msisdn_roles)
    return [
        RelatedParty(
            id=c.msisdn if full else (mask_msisdn(c.msisdn) or ""),
            role="customer",
            name=c.details.get("customer_name") if full else None,
            referred_type="Individual",
        )
    ]


def to_tmf(c: Complaint, timeline: list[TimelineEntry], principal: Principal) -> dict[str, Any]:
    """The ticket's TMF621 JSON (attributes without a value are left out)."""
    changes = [t for t in timeline if t.kind == "status"]
    last = changes[-1] if changes else None
    resolution_due = next((s.get("due_at") for s in c.sla if s.get("name") == "resolution"), None)
    details = c.details
    ticket = TroubleTicket(
        id=c.ticket_no,
        href=f"{BASE}/{c.ticket_no}",
        type_="TroubleTicket",
        base_type="TroubleTicket",
        schema_location=SCHEMA_LOCATION,
        name=c.tmf_name,
        description=c.description,
        severity=mapping.shown_severity(c.reported_severity, c.severity),
        ticketType=c.tmf_ticket_type or c.category,
        status=mapping.STATUS_TO_TMF[c.status],
        statusChangeDate=last.at if last else c.received_at,
        statusChangeReason=last.detail.get("reason") if last else None,
        creationDate=c.received_at,
        lastUpdate=c.updated_at,
        expectedResolutionDate=resolution_due,
        resolutionDate=(c.resolution or {}).get("at"),
        externalId=c.source_external_id,
        channel=ChannelRef(id=c.channel, name=c.channel, type_="ChannelRef"),
        relatedParty=_customer(c, principal) or None,
        relatedEntity=[RelatedEntity.model_validate(e) for e in details.get("relatedEntity", [])]
        or None,
        attachment=[AttachmentRefOrValue.model_validate(a) for a in details.get("attachment", [])]
        or None,
        troubleTicketRelationship=[
            TroubleTicketRelationship.model_validate(r)
            for r in details.get("troubleTicketRelationship", [])
        ]
        or None,
        note=[
            TmfNote(id=str(t.id), author=t.actor, date=t.at, text=t.detail["text"], type_="Note")
            for t in timeline
            if t.kind == "note"
        ]
        or None,
        statusChange=[
            TmfStatusChange(
                status=mapping.STATUS_TO_TMF[t.detail["to"]],
                changeDate=t.at,
                changeReason=t.detail.get("reason"),
                type_="StatusChange",
            )
            for t in changes
        ],
    )
    return ticket.model_dump(mode="json", by_alias=True, exclude_none=True)
