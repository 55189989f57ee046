"""Intake tables: the complaint record and its timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import TYPE_ANNOTATION_MAP, service_metadata, utcnow
from shared.policy_store import PolicyVersionMixin
from shared.service import Platform


class Base(DeclarativeBase):
    metadata = service_metadata()
    type_annotation_map = TYPE_ANNOTATION_MAP


platform = Platform("intake", Base)


class Complaint(Base):
    __tablename__ = "complaint"
    __table_args__ = (
        Index("ix_complaint_status_received", "status", "received_at"),
        Index("ix_complaint_msisdn", "msisdn"),
        Index("ix_complaint_handler_received", "handler_department", "received_at"),
        Index("ix_complaint_tmf_ticket_type", "tmf_ticket_type"),
        UniqueConstraint("source_org", "source_external_id"),
        Index("ix_complaint_status_resolved", "status", "resolved_at"),
        Index("ix_complaint_status_archive_due", "status", "archive_due_at"),
        Index("ix_complaint_status_archived", "status", "archived_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_no: Mapped[str] = mapped_column(String(32), unique=True)
    channel: Mapped[str] = mapped_column(String(32))
    msisdn: Mapped[str | None] = mapped_column(String(20))
    """None for a ticket without a customer (TMF621/partner callers only; the reason is in
    details["no_customer_reason"])."""
    description: Mapped[str] = mapped_column(Text)
    category_hint: Mapped[str | None] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(32))
    category_confidence: Mapped[float]
    category_rule: Mapped[str] = mapped_column(String(100))
    severity: Mapped[str] = mapped_column(String(16))
    major: Mapped[bool] = mapped_column(Boolean, default=False)
    major_reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    over_level: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16))
    held_from: Mapped[str | None] = mapped_column(String(16))
    """The status a pending complaint returns to on resume."""
    version: Mapped[int] = mapped_column(Integer, default=1)
    user_type: Mapped[str | None] = mapped_column(String(16))
    accepting_department: Mapped[str] = mapped_column(String(64))
    accepted_by: Mapped[str] = mapped_column(String(64))
    desk_id: Mapped[str | None] = mapped_column(String(64))
    store_id: Mapped[str | None] = mapped_column(String(64))
    source_org: Mapped[str | None] = mapped_column(String(100))
    source_external_id: Mapped[str | None] = mapped_column(String(100))
    reported_severity: Mapped[str | None] = mapped_column(String(16))
    """The severity a TMF621 caller stated (its vocabulary, see tmf_mapping); our rules judge
    `severity` themselves."""
    tmf_ticket_type: Mapped[str | None] = mapped_column(String(64))
    """The ticketType a TMF621 caller stated, verbatim (any string; `category` is ours)."""
    tmf_name: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """The rest of what was recorded at intake (contact, location, handset, ...)."""
    handler_department: Mapped[str | None] = mapped_column(String(64))
    owner_department: Mapped[str | None] = mapped_column(String(64))
    assignee: Mapped[str | None] = mapped_column(String(64))
    supervisor: Mapped[str | None] = mapped_column(String(64))
    sla: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    """SLA clocks as last published by the sla service."""
    refunds: Mapped[dict[str, dict[str, Any]]] = mapped_column(JSON, default=dict)
    """Refunds by id as last published by the refund service."""
    resolution: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    feedback: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    sp_code: Mapped[str | None] = mapped_column(String(32))
    """The SP a value-added complaint disputes (learned from refund's SpDisputeOpened)."""
    received_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    """When it was last resolved: the survey's no-reply timeout runs from here."""
    closed_at: Mapped[datetime | None]
    archive_due_at: Mapped[datetime | None]
    """Closed tickets are archived at this instant (N working days after closing)."""
    archived_at: Mapped[datetime | None]
    anonymised_at: Mapped[datetime | None]
    """Retention: the customer's data was erased; the statistics stay."""
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class TimelineEntry(Base):
    """Append-only history of a complaint: status changes, assignments, notes."""

    __tablename__ = "timeline_entry"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaint.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class SurgeSeen(Base):
    """Same-content surges as routing announced them (for the monthly report)."""

    __tablename__ = "surge_seen"
    cluster_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    level: Mapped[str] = mapped_column(String(32))
    count: Mapped[int] = mapped_column(Integer)
    first_raised_at: Mapped[datetime]


class AccessAudit(Base):
    """Who saw a full number, searched by one or exported complaints: when, what and why
    (seed 003 §6.5 保密; PIPL)."""

    __tablename__ = "access_audit"
    __table_args__ = (Index("ix_access_audit_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    action: Mapped[str] = mapped_column(String(32))
    """read_msisdn | search_msisdn | export"""
    ticket_nos: Mapped[list[str]] = mapped_column(JSON, default=list)
    reason: Mapped[str] = mapped_column(String(300))


class PolicyVersion(Base, PolicyVersionMixin):
    """The report targets as ops changed them at run time (see shared.policy_store)."""

    __tablename__ = "policy_version"
