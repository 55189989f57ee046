"""Notify request and response models: notifications and opt-outs."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

NotificationStatus = Literal["pending", "sent", "delivered", "failed", "suppressed", "unknown"]
"""unknown: the send may or may not have reached the gateway; not sent again, ops alerted."""


class NotificationRead(BaseModel):
    id: str
    ticket_no: str | None
    channel: Literal["sms", "email"]
    template: str
    recipient: str = Field(description="Always masked (138****8000, ne***@example.com)")
    subject: str | None = None
    body: str
    status: NotificationStatus
    attempts: int
    provider_message_id: str | None
    last_error: str | None = None
    send_after: datetime = Field(description="Not sent before (quiet hours, rate limit, retry)")
    created_at: datetime
    sent_at: datetime | None = None


class NotificationPage(BaseModel):
    items: list[NotificationRead]
    next_cursor: str | None = None


class OptOutCreate(BaseModel):
    msisdn: str = Field(min_length=5, max_length=20, examples=["13800138000"])
    reason: str | None = Field(None, max_length=500)


class OptOutRead(BaseModel):
    msisdn: str = Field(description="Masked")
    reason: str | None
    created_by: str
    created_at: datetime
