"""Notify tables: every notification (recorded before it is sent), its SMS parts and their
receipts, what notify knows about each ticket, opt-outs, and partner webhooks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import TYPE_ANNOTATION_MAP, service_metadata, utcnow
from shared.service import Platform


class Base(DeclarativeBase):
    metadata = service_metadata()
    type_annotation_map = TYPE_ANNOTATION_MAP


platform = Platform("notify", Base)


class Notification(Base):
    """One message to one recipient. The unique (triggering event, template, recipient) makes
    a redelivered event, a restart or a second replica unable to record it twice."""

    __tablename__ = "notification"
    __table_args__ = (
        UniqueConstraint("source_event_id", "template", "recipient"),
        Index("ix_notification_due", "status", "send_after"),
        Index("ix_notification_recipient_sent", "recipient", "sent_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_no: Mapped[str | None] = mapped_column(String(32), index=True)
    source_event_id: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    template: Mapped[str] = mapped_column(String(64))
    recipient: Mapped[str] = mapped_column(String(200))
    recipient_masked: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    """pending | sent | delivered | failed | suppressed | unknown (may or may not have reached
    the gateway; not sent again, and ops were alerted)"""
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    uncertain_sends: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Sends whose outcome stayed unknown (lease expired, no submit answer, timeout after
    SMTP DATA); bounded by NotifySettings.uncertain_resend_max."""
    send_after: Mapped[datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[datetime | None]
    """Set while one dispatcher holds the row for sending (compare-and-set claim)."""
    provider_message_id: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    sent_at: Mapped[datetime | None]


class SmsPart(Base):
    """One submitted SMS segment and its delivery receipt. A receipt that overtakes the
    submit response is kept without a notification and adopted when the response lands."""

    __tablename__ = "sms_part"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider_message_id: Mapped[str] = mapped_column(String(100), index=True)
    notification_id: Mapped[int | None] = mapped_column(
        ForeignKey("notification.id", ondelete="CASCADE"), index=True
    )
    part_no: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default="sent")
    """sent | delivered | failed"""
    receipt_stat: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class InboundMessage(Base):
    """A receipt-less message from the gateway (a customer's SMS) that was applied, written in
    the same transaction as its effect: a re-delivery with the same key is recognised."""

    __tablename__ = "inbound_message"
    __table_args__ = (Index("ix_inbound_message_key", "key", "received_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64))
    sender_masked: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(16))
    """survey_reply | survey_unclear"""
    ticket_no: Mapped[str | None] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class TicketContact(Base):
    """What notify keeps about a ticket to reach its customer and departments."""

    __tablename__ = "ticket_contact"
    __table_args__ = (Index("ix_ticket_contact_survey", "msisdn", "survey_open", "resolved_at"),)
    ticket_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    msisdn: Mapped[str | None] = mapped_column(String(20))
    msisdn_masked: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(200))
    """The customer's e-mail, if they gave one: the result goes there too."""
    no_customer_reason: Mapped[str | None] = mapped_column(String(200))
    """Set when TicketReceived said the ticket has no customer: customer messages are
    recorded as suppressed with this reason, never sent."""
    channel: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str | None] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(32))
    severity: Mapped[str | None] = mapped_column(String(16))
    handler_department: Mapped[str | None] = mapped_column(String(64))
    supervisor: Mapped[str | None] = mapped_column(String(64))
    source_org: Mapped[str | None] = mapped_column(String(100))
    """The partner that transferred the ticket: it (and only it) hears about the ticket."""
    sp_code: Mapped[str | None] = mapped_column(String(32))
    """The SP the ticket concerns, when an event named it: that SP's partner hears too."""
    clocks: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """Promised times from SlaClocksStarted: clock name -> ISO due time."""
    first_reply_sent: Mapped[bool] = mapped_column(Boolean, default=False)
    survey_open: Mapped[bool] = mapped_column(Boolean, default=False)
    resolved_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class OptOut(Base):
    """Customers who asked not to receive optional SMS."""

    __tablename__ = "opt_out"
    msisdn: Mapped[str] = mapped_column(String(20), primary_key=True)
    msisdn_masked: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookSubscription(Base):
    """A partner endpoint (Standard Webhooks) or a TMF621 hub listener."""

    __tablename__ = "webhook_subscription"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="standard")
    """standard | tmf621"""
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSON)
    description: Mapped[str | None] = mapped_column(String(500))
    query: Mapped[str | None] = mapped_column(String(500))
    owner: Mapped[str] = mapped_column(String(64), index=True)
    owner_role: Mapped[str] = mapped_column(String(16), default="partner")
    """partner: events of its own tickets only | ops: every ticket's (minimised all the same)"""
    owner_email: Mapped[str | None] = mapped_column(String(200))
    secret: Mapped[str] = mapped_column(String(100))
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_until: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), default="active")
    """active | paused | disabled | deleted"""
    disabled_reason: Mapped[str | None] = mapped_column(String(300))
    failing_since: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WebhookDelivery(Base):
    """One event for one subscription: its `webhook-id` stays the same across retries."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id"),
        Index("ix_webhook_delivery_due", "status", "next_attempt_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    webhook_id: Mapped[str] = mapped_column(String(40), unique=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("webhook_subscription.id"), index=True)
    event_id: Mapped[str] = mapped_column(String(100))
    """The triggering event's id (and, for TMF621, the TMF event type it became)."""
    event_type: Mapped[str] = mapped_column(String(100))
    ticket_no: Mapped[str | None] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    """pending | delivered | failed"""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    round_attempts: Mapped[int] = mapped_column(Integer, default=0)
    """Attempts since the last (re)play: the position in the retry schedule."""
    next_attempt_at: Mapped[datetime | None]
    lease_until: Mapped[datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class WebhookAttempt(Base):
    """The per-attempt delivery log."""

    __tablename__ = "webhook_attempt"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_delivery.id"), index=True)
    attempt_no: Mapped[int] = mapped_column(Integer)
    attempted_at: Mapped[datetime]
    duration_ms: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    succeeded: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)
    response_excerpt: Mapped[str | None] = mapped_column(String(500))
    next_attempt_at: Mapped[datetime | None]
