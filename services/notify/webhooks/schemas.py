"""Webhook request and response models (subscriptions, deliveries, the TMF621 hub)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from services.notify.webhooks import hub_query
from services.notify.webhooks.catalogue import EVENT_TYPES


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=8, max_length=2000, examples=["https://partner.example/hooks"])
    events: list[str] = Field(
        min_length=1,
        max_length=len(EVENT_TYPES) + 1,
        description=f"Any of {', '.join(EVENT_TYPES)}, or '*' for all",
        examples=[["ticket.status_changed", "refund.paid"]],
    )
    description: str | None = Field(None, max_length=500)
    owner_email: EmailStr | None = Field(
        None, description="Told when the subscription is disabled (default: the ops mailbox)"
    )

    @field_validator("events")
    @classmethod
    def _known(cls, events: list[str]) -> list[str]:
        unknown = [e for e in events if e != "*" and e not in EVENT_TYPES]
        if unknown:
            raise ValueError(f"unknown event type(s): {', '.join(unknown)}")
        return sorted(set(events))


class SubscriptionRead(BaseModel):
    id: str
    url: str
    events: list[str]
    description: str | None
    owner: str
    status: str = Field(description="active | paused | disabled")
    disabled_reason: str | None
    failing_since: datetime | None
    created_at: datetime
    secret: str | None = Field(
        None, description="whsec_…: only in the create, rotate and secret responses"
    )
    previous_secret_until: datetime | None = Field(
        None, description="While a rotation overlaps, both signatures are sent until then"
    )


class SecretRead(BaseModel):
    secret: str
    previous_secret_until: datetime | None = None


class AttemptRead(BaseModel):
    attempt_no: int
    attempted_at: datetime
    duration_ms: int
    status_code: int | None
    succeeded: bool
    error: str | None
    response_excerpt: str | None
    next_attempt_at: datetime | None


class DeliveryRead(BaseModel):
    id: int
    webhook_id: str = Field(description="The `webhook-id` header: the same on every retry")
    subscription_id: str
    event_type: str
    ticket_no: str | None
    status: str = Field(description="pending | delivered | failed")
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    created_at: datetime
    finished_at: datetime | None
    attempt_log: list[AttemptRead]


class DeliveryPage(BaseModel):
    items: list[DeliveryRead]
    next_cursor: str | None = None


class HubCreate(BaseModel):
    """TMF621 / TMF630 hub registration."""

    model_config = ConfigDict(extra="ignore")
    callback: str = Field(min_length=8, max_length=2000)
    query: str | None = Field(
        None,
        max_length=500,
        description="TMF630 filter, e.g. eventType=TroubleTicketStatusChangeEvent,"
        "TroubleTicketResolvedEvent&event.troubleTicket.severity=Critical (see hub_query)",
    )


class HubRead(BaseModel):
    id: str
    callback: str
    query: str | None = None
    secret: str | None = Field(
        None, description="Extension: deliveries carry Standard Webhooks signatures with it"
    )


def tmf_events_from_query(query: str | None) -> list[str]:
    """The TMF event types a hub query selects (all when it names none); ValueError if the
    query does not parse (see hub_query)."""
    return list(hub_query.parse(query).event_types)
