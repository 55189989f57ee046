"""Refund tables: the complaint projection, the per-complaint ledger that serialises
requests, refunds, SP disputes and the hash-chained audit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import TYPE_ANNOTATION_MAP, service_metadata, utcnow
from shared.policy_store import PolicyVersionMixin
from shared.service import Platform


class Base(DeclarativeBase):
    metadata = service_metadata()
    type_annotation_map = TYPE_ANNOTATION_MAP


platform = Platform("refund", Base)


class TicketView(Base):
    """Refund's projection of a complaint: enough to decide whether a refund may be asked."""

    __tablename__ = "ticket_view"
    ticket_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    user_type: Mapped[str | None] = mapped_column(String(16))
    received_at: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ComplaintLedger(Base):
    """One row per complaint that every refund request locks and bumps, so two requests
    at once cannot both count the same total and dodge the cumulative rule."""

    __tablename__ = "complaint_ledger"
    ticket_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    request_count: Mapped[int] = mapped_column(Integer, default=0)
    last_request_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class Refund(Base):
    """A refund request and its decision and payout. `total_fen` is the complaint total
    (this refund included) it was decided on; `payout_fen` is what the customer gets."""

    __tablename__ = "refund"
    __table_args__ = (
        Index("ix_refund_ticket", "ticket_no", "id"),
        Index("ix_refund_escalate_due", "escalate_at"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    ticket_no: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    charge_type: Mapped[str | None] = mapped_column(String(32))
    """What the charge was for (AuthorityPolicy.charge_types); None: not stated."""
    policy_version: Mapped[int | None] = mapped_column(Integer)
    """The authority policy version it was decided under (None: the settings' default)."""
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    payout_fen: Mapped[int] = mapped_column(BigInteger)
    total_fen: Mapped[int] = mapped_column(BigInteger)
    user_type: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    required_role: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_role: Mapped[str | None] = mapped_column(String(16))
    requested_at: Mapped[datetime]
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_role: Mapped[str | None] = mapped_column(String(16))
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str | None] = mapped_column(Text)
    escalate_at: Mapped[datetime | None]
    """When an undecided request escalates; cleared once decided or escalated."""
    escalated_at: Mapped[datetime | None]
    escalated_to: Mapped[str | None] = mapped_column(String(16))
    billing_ref: Mapped[str | None] = mapped_column(String(64))
    paid_by: Mapped[str | None] = mapped_column(String(64))
    paid_at: Mapped[datetime | None]
    dispute_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class PolicyVersion(Base, PolicyVersionMixin):
    """The authority policy as ops changed it at run time (see shared.policy_store)."""

    __tablename__ = "policy_version"


class SpDispute(Base):
    """A disputed SP charge: the SP has until `proof_due_at` to prove the subscription."""

    __tablename__ = "sp_dispute"
    __table_args__ = (
        Index("ix_sp_dispute_ticket", "ticket_no", "sp_code"),
        Index("ix_sp_dispute_expire_due", "expire_at"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    ticket_no: Mapped[str] = mapped_column(String(32))
    sp_code: Mapped[str] = mapped_column(String(32))
    charge_amount_fen: Mapped[int] = mapped_column(BigInteger)
    paid: Mapped[bool] = mapped_column(Boolean, default=True)
    """Whether the customer already paid the charge (seed 002: unpaid → not collected)."""
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(24))
    opened_by: Mapped[str] = mapped_column(String(64))
    opened_at: Mapped[datetime]
    proof_due_at: Mapped[datetime]
    expire_at: Mapped[datetime | None]
    """The timer index: `proof_due_at` while open, cleared when closed."""
    proof_ref: Mapped[str | None] = mapped_column(String(200))
    proof_note: Mapped[str | None] = mapped_column(Text)
    closed_by: Mapped[str | None] = mapped_column(String(64))
    closed_at: Mapped[datetime | None]
    refund_id: Mapped[str | None] = mapped_column(String(32))


class AuditRecord(Base):
    """One entry of the service's single audit chain (see services.refund.audit).

    Append-only: nothing updates or deletes these rows; `verify` finds it if someone does."""

    __tablename__ = "audit_entry"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    refund_id: Mapped[str] = mapped_column(String(32), index=True)
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    role: Mapped[str | None] = mapped_column(String(16))
    at: Mapped[datetime]
    amount_fen: Mapped[int | None] = mapped_column(BigInteger)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
