"""Refund request and response models. Amounts go in as two-place decimal strings and are
checked against the configured policy by the handlers (so the field is named on 422)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.refund.authority import RefundKind
from shared.money import AMOUNT_PATTERN, Fen

TICKET_NO = Field(min_length=1, max_length=32)
AMOUNT = Field(
    max_length=20,
    description="CNY as a decimal string with exactly two places, e.g. '150.00'",
    json_schema_extra={"pattern": AMOUNT_PATTERN, "examples": ["150.00"]},
)


class Eligibility(BaseModel):
    ticket_no: str
    ticket_status: str
    user_type: str | None
    refundable: bool


class RefundCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "ticket_no": "TS20261122000001",
                    "amount": "30.00",
                    "kind": "double_refund",
                    "charge_type": "monternet",
                    "reason": "梦网业务未经用户确认订购",
                }
            ]
        },
    )
    ticket_no: str = TICKET_NO
    amount: str = AMOUNT
    kind: RefundKind = Field(
        description="refund; double_refund (2 × the charge is paid back and counted); "
        "provisional (SP gave no proof in time); waiver (disputed charge not collected)"
    )
    charge_type: str | None = Field(
        None,
        max_length=32,
        description="What the charge was for, one of the authority policy's charge_types "
        "(GET /v1/refunds/policy; defaults: monternet 梦网业务费, missed_promotion 营销方案漏赠送, "
        "call, data, package, other). Front-line staff may refund only the policy's front-line "
        "types (seed 004 §2.5); none stated → a room manager or above decides.",
        examples=["monternet"],
    )
    reason: str = Field(min_length=1, max_length=1000)


class ApproveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: str | None = Field(None, max_length=1000)


class RejectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=1000)


class PaidBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    billing_ref: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:/-]+$")


class RefundRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    ticket_no: str
    kind: str
    charge_type: str | None
    status: str
    amount: Fen = Field(validation_alias="amount_fen", description="As requested: the charge")
    payout: Fen = Field(validation_alias="payout_fen", description="What the customer gets")
    complaint_total: Fen = Field(
        validation_alias="total_fen", description="Complaint total this refund was decided on"
    )
    required_role: str
    policy_version: int | None = Field(
        description="The authority policy version it was decided under (null: the default)"
    )
    user_type: str | None
    reason: str
    requested_by: str
    requested_role: str | None
    requested_at: datetime
    decided_by: str | None
    decided_role: str | None
    decided_at: datetime | None
    decision_note: str | None
    escalated_at: datetime | None
    escalated_to: str | None
    billing_ref: str | None
    paid_by: str | None
    paid_at: datetime | None
    dispute_id: str | None


class RefundPage(BaseModel):
    items: list[RefundRead]
    next_cursor: str | None


class AuditEntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    seq: int
    refund_id: str
    action: str
    actor: str
    role: str | None
    at: datetime
    amount_fen: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str
    prev_hash: str
    hash: str


class AuditVerification(BaseModel):
    ok: bool
    checked: int = Field(description="Entries found intact before the first defect")
    head_seq: int | None = Field(description="Seq of the last intact entry")
    head_hash: str = Field(description="Compare with a copy kept elsewhere to notice truncation")
    first_bad_seq: int | None = None
    defect: str | None = None
    detail: str | None = None


class SpDisputeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ticket_no: str = TICKET_NO
    sp_code: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    charge_amount: str = AMOUNT
    paid: bool = Field(
        description="Already paid: a provisional refund after the proof window. Unpaid: held "
        "from collection (SpChargeHeld for billing), no refund (seed 002)"
    )
    reason: str = Field("SP charge disputed by the customer", min_length=1, max_length=1000)


class SpProofBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    proof_ref: str = Field(min_length=1, max_length=200, description="The SP's order record")
    note: str | None = Field(None, max_length=1000)


class SpDisputeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    ticket_no: str
    sp_code: str
    charge_amount: Fen = Field(validation_alias="charge_amount_fen")
    paid: bool
    reason: str
    status: str
    opened_by: str
    opened_at: datetime
    proof_due_at: datetime
    proof_ref: str | None
    proof_note: str | None
    closed_by: str | None
    closed_at: datetime | None
    refund_id: str | None
