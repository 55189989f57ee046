"""TMF621 Trouble Ticket v4 resource models (the subset we implement, TMF's names)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.intake import tmf_mapping

BASE = "/tmf-api/troubleTicket/v4/troubleTicket"
SCHEMA_LOCATION = "/intake/openapi.json#/components/schemas/TroubleTicket"
TmfStatus = Literal[
    "acknowledged", "inProgress", "pending", "held", "resolved", "closed", "cancelled", "rejected"
]


class _Tmf(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    type_: str | None = Field(None, alias="@type")
    base_type: str | None = Field(None, alias="@baseType")
    schema_location: str | None = Field(None, alias="@schemaLocation")


class ChannelRef(_Tmf):
    id: str | None = Field(None, max_length=64)
    name: str | None = Field(None, max_length=64)
    href: str | None = Field(None, max_length=500)
    referred_type: str | None = Field(None, alias="@referredType", max_length=64)


class RelatedParty(_Tmf):
    id: str = Field(min_length=1, max_length=100)
    role: str = Field(min_length=1, max_length=64)
    name: str | None = Field(None, max_length=100)
    href: str | None = Field(None, max_length=500)
    referred_type: str | None = Field(None, alias="@referredType", max_length=64)


class RelatedEntity(_Tmf):
    """A reference to something the ticket concerns (a cell, a product, a service)."""

    id: str = Field(min_length=1, max_length=100)
    role: str | None = Field(None, max_length=64)
    name: str | None = Field(None, max_length=200)
    href: str | None = Field(None, max_length=500)
    referred_type: str | None = Field(None, alias="@referredType", max_length=64)


class AttachmentRefOrValue(_Tmf):
    """AttachmentRefOrValue as a reference only: we keep where the document is, not its
    bytes (`content` is refused)."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")
    id: str | None = Field(None, max_length=100)
    href: str | None = Field(None, max_length=500)
    name: str | None = Field(None, max_length=200)
    description: str | None = Field(None, max_length=500)
    url: str | None = Field(None, max_length=2000)
    mimeType: str | None = Field(None, max_length=100)
    attachmentType: str | None = Field(None, max_length=64)
    referred_type: str | None = Field(None, alias="@referredType", max_length=64)


class TroubleTicketRelationship(_Tmf):
    id: str = Field(min_length=1, max_length=100)
    href: str | None = Field(None, max_length=500)
    name: str | None = Field(None, max_length=200)
    relationshipType: str = Field(min_length=1, max_length=64)


class TmfNote(_Tmf):
    id: str | None = Field(None, max_length=64)
    author: str | None = Field(None, max_length=100)
    date: datetime | None = None
    text: str = Field(min_length=1, max_length=4000)


class TmfStatusChange(_Tmf):
    status: str
    changeDate: datetime
    changeReason: str | None = None


def _severity(value: str) -> str:
    canonical = tmf_mapping.canonical_severity(value)
    if canonical is None:
        raise ValueError(f"one of {', '.join(tmf_mapping.SEVERITY_FROM_TMF)}")
    return canonical


class References(BaseModel):
    relatedEntity: list[RelatedEntity] | None = Field(None, max_length=50)
    attachment: list[AttachmentRefOrValue] | None = Field(None, max_length=50)
    troubleTicketRelationship: list[TroubleTicketRelationship] | None = Field(None, max_length=50)


class TroubleTicketCreate(References, _Tmf):
    """POST body (TMF621 TroubleTicket_Create). `status` and read-only attributes are set by
    us and ignored if sent."""

    description: str = Field(min_length=1, max_length=4000)
    severity: str = Field(min_length=1, max_length=32, description=tmf_mapping.MAPPING_MARKDOWN)
    ticketType: str = Field(min_length=1, max_length=64)
    name: str | None = Field(None, max_length=200)
    externalId: str | None = Field(None, max_length=100)
    channel: ChannelRef | None = None
    relatedParty: list[RelatedParty] = Field(default_factory=list, max_length=20)
    note: list[TmfNote] = Field(default_factory=list, max_length=50)

    _check_severity = field_validator("severity")(_severity)


class TroubleTicketPatch(References):
    """PATCH body (JSON merge patch, application/merge-patch+json): status,
    statusChangeReason, ticketType, severity, name; `note` items without an id are added
    (notes are append-only); relatedEntity, attachment and troubleTicketRelationship replace
    the lists (merge-patch semantics for arrays)."""

    model_config = ConfigDict(extra="forbid")
    status: TmfStatus | None = None
    statusChangeReason: str | None = Field(None, max_length=500)
    ticketType: str | None = Field(None, min_length=1, max_length=64)
    severity: str | None = Field(None, min_length=1, max_length=32)
    name: str | None = Field(None, max_length=200)
    note: list[TmfNote] | None = Field(None, max_length=200)

    @field_validator("severity")
    @classmethod
    def _check_severity(cls, value: str | None) -> str | None:
        return None if value is None else _severity(value)


class TroubleTicket(References, _Tmf):
    """A ticket as TMF621 shows it (every attribute is optional under `fields=`)."""

    id: str | None = None
    href: str | None = None
    name: str | None = None
    description: str | None = None
    severity: str | None = None
    ticketType: str | None = None
    status: TmfStatus | None = None
    statusChangeDate: datetime | None = None
    statusChangeReason: str | None = None
    creationDate: datetime | None = None
    lastUpdate: datetime | None = None
    expectedResolutionDate: datetime | None = None
    resolutionDate: datetime | None = None
    externalId: str | None = None
    channel: ChannelRef | None = None
    relatedParty: list[RelatedParty] | None = None
    note: list[TmfNote] | None = None
    statusChange: list[TmfStatusChange] | None = None


ATTRIBUTES = frozenset(
    f.alias or name for name, f in TroubleTicket.model_fields.items()
)  # what `fields=` may name
