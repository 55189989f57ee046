"""Commands: what a caller asks the refund use cases to do (imperative names)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from services.refund.authority import RefundKind
from services.refund.domain import SYSTEM_ACTOR
from shared.db import utcnow


@dataclass(frozen=True)
class Actor:
    """Who acts: a member of staff from the token, or the system (no roles)."""

    id: str
    roles: frozenset[str] = frozenset()


SYSTEM = Actor(SYSTEM_ACTOR)


@dataclass(frozen=True)
class RequestRefund:
    ticket_no: str
    amount_fen: int
    kind: RefundKind
    reason: str
    actor: Actor
    charge_type: str | None = None
    """What the charge was for (AuthorityPolicy.charge_types); None: not stated."""
    refund_id: str | None = None
    dispute_id: str | None = None
    """Set for the provisional refund of an SP dispute (the complaint may be closed by then)."""
    at: datetime = field(default_factory=utcnow)
    """When it is asked (an SP dispute's expiry asks at the timer's time)."""


@dataclass(frozen=True)
class DecideRefund:
    """Approve (note = comment) or reject (note = reason) a pending refund."""

    refund_id: str
    actor: Actor
    note: str | None


@dataclass(frozen=True)
class ApproveRefund(DecideRefund):
    """Approve a pending refund; `note` is the approver's comment."""


@dataclass(frozen=True)
class RejectRefund(DecideRefund):
    """Reject a pending refund; `note` is the reason."""


@dataclass(frozen=True)
class RecordPayout:
    refund_id: str
    billing_ref: str
    actor: Actor


@dataclass(frozen=True)
class OpenSpDispute:
    ticket_no: str
    sp_code: str
    charge_amount_fen: int
    reason: str
    actor: Actor
    paid: bool = True


@dataclass(frozen=True)
class RecordSpProof:
    dispute_id: str
    proof_ref: str
    note: str | None
    actor: Actor
    sp_codes: frozenset[str] = frozenset()
    """The SP codes the caller speaks for (a partner's, from ACCESS_PARTNER_SP_CODES)."""


@dataclass(frozen=True)
class ExpireSpDispute:
    """The proof deadline of a dispute passed (the timer fires it at `at`)."""

    dispute_id: str
    at: datetime


@dataclass(frozen=True)
class EscalateRefund:
    """An undecided refund's approval time ran out (the timer fires it at `at`)."""

    refund_id: str
    at: datetime
