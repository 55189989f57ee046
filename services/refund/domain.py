"""Refund rules beyond authority (see authority.py): the refund and SP-dispute state
machines, escalation targets, and identifiers. No I/O."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from enum import StrEnum

from services.refund.authority import ROLE_ORDER, Role
from shared.events import TERMINAL_STATUSES

TERMINAL_TICKET_STATUSES = TERMINAL_STATUSES
SYSTEM_ACTOR = "system"


class RefundStatus(StrEnum):
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    PAID = "paid"


class DisputeStatus(StrEnum):
    OPEN = "open"
    PROVEN = "proven"
    PROVISIONAL_REFUND = "provisional_refund"
    NOT_COLLECTED = "not_collected"


class Conflict(Exception):
    """The thing is not in a state that allows the command (HTTP 409)."""


def refundable(ticket_status: str | None) -> bool:
    """A refund needs a known complaint that is neither closed nor cancelled."""
    return ticket_status is not None and ticket_status not in TERMINAL_TICKET_STATUSES


def check_decidable(status: str) -> None:
    """Only a pending refund can be approved or rejected."""
    if status != RefundStatus.PENDING_APPROVAL:
        raise Conflict(f"the refund is {status}, not pending approval")


def payout_is_new(status: str, recorded_ref: str | None, billing_ref: str) -> bool:
    """True to record a payout; False when the same payout was already recorded (a retry)."""
    if status == RefundStatus.PAID:
        if recorded_ref == billing_ref:
            return False
        raise Conflict(f"the refund was already paid under billing reference {recorded_ref}")
    if status != RefundStatus.APPROVED:
        raise Conflict(f"the refund is {status}; only an approved refund can be paid")
    return True


def check_proof_in_time(status: str, proof_due_at: datetime, now: datetime) -> None:
    """Proof closes a dispute only while it is open and the window has not passed."""
    if status != DisputeStatus.OPEN:
        raise Conflict(f"the dispute is already closed ({status})")
    if now >= proof_due_at:
        raise Conflict("the proof window has passed; a provisional refund is due")


def escalation_target(required: Role) -> Role:
    """Who hears of an undecided refund: the next authority up (leadership stays)."""
    index = ROLE_ORDER.index(required)
    return ROLE_ORDER[min(index + 1, len(ROLE_ORDER) - 1)]


def new_id(prefix: str, now: datetime) -> str:
    """A unique id that sorts by creation time (lists page by it): RF20260101083000123456ab12cd."""
    return f"{prefix}{now.astimezone(UTC):%Y%m%d%H%M%S%f}{secrets.token_hex(3)}"
