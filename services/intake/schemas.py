"""Intake request and response models."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from shared.events import Category, Channel
from shared.money import Fen
from shared.phone import InvalidPhoneNumber, normalize_msisdn


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid")
    org: str = Field(min_length=1, max_length=100)
    external_id: str = Field(min_length=1, max_length=100)


class ComplaintBase(BaseModel):
    """What every complaint records, whoever files it (the customer's number aside)."""

    model_config = ConfigDict(extra="forbid")

    channel: Channel
    description: str = Field(min_length=1, max_length=4000)
    customer_name: str | None = Field(None, max_length=100)
    contact_phone: str | None = Field(None, max_length=32)
    email: EmailStr | None = None
    user_type: Literal["prepaid", "postpaid"] | None = None
    category: Category | None = Field(None, description="Optional hint from the front-end")
    sp_code: str | None = Field(
        None,
        max_length=32,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="The SP (梦网 content provider) the complaint is about, if the front-end "
        "knows it; otherwise intake recognises SP names in the text (sp_lexicon.tsv)",
    )
    disputed_amount: Fen | None = None
    occurred_at: datetime | None = None
    location: str | None = Field(None, max_length=200)
    handset: str | None = Field(None, max_length=100)
    related_numbers: list[str] = Field(default_factory=list, max_length=20)
    desk_id: str | None = Field(None, max_length=64)
    store_id: str | None = Field(None, max_length=64)
    source: Source | None = None
    joint_complainants: int = Field(0, ge=0, le=100000)
    media_involved: bool = False
    lawsuit: bool = False
    business_disrupted: bool = False

    @field_validator("description")
    @classmethod
    def _description(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must include a timezone offset")
        return value


def _normalized(value: str) -> str:
    try:
        return normalize_msisdn(value)
    except InvalidPhoneNumber as exc:
        raise ValueError(str(exc)) from exc


class ComplaintCreate(ComplaintBase):
    """A complaint as a 10086 front-end files it: the customer's number is required."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "channel": "hotline",
                    "msisdn": "13800138000",
                    "description": "家里信号很差，经常掉线",
                }
            ]
        },
    )
    msisdn: str = Field(description="Customer's Chinese mobile number (national or +86)")

    @field_validator("msisdn")
    @classmethod
    def _msisdn(cls, value: str) -> str:
        return _normalized(value)


class CustomerlessAllowed(ComplaintBase):
    """A complaint from a caller that may file without a customer (TMF621, partners): an
    internal fault report, a partner's ticket about a cell, a letter without a number."""

    msisdn: str | None = Field(None, description="Customer's mobile number, when there is one")
    no_customer_reason: str | None = Field(
        None, max_length=200, description="Why there is no customer number (recorded)"
    )

    @field_validator("msisdn")
    @classmethod
    def _msisdn(cls, value: str | None) -> str | None:
        return None if value is None else _normalized(value)


NewComplaint = ComplaintCreate | CustomerlessAllowed


class Assignment(BaseModel):
    owner_department: str | None
    handler_department: str | None
    assignee: str | None
    supervisor: str | None = None


Responsibility = Literal["company", "sp", "third_party", "customer", "none"]


class CommandBody(BaseModel):
    """Optional remark for commands that need no other input (accept, start, resume)."""

    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(None, max_length=2000)


class ReplyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = Field(min_length=1, max_length=2000, description="What the customer was told")


class HoldBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(
        min_length=1, max_length=500, description="What we wait on the customer for"
    )


class ResolveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    resolution: str = Field(min_length=1, max_length=4000)
    responsibility: Responsibility = Field(description="Whose fault it was (责任归属)")


class FeedbackBody(BaseModel):
    """The customer's answer to the satisfaction survey (回访): false reopens, true closes."""

    model_config = ConfigDict(extra="forbid")
    satisfied: bool
    score: int | None = Field(None, ge=1, le=5)
    comment: str | None = Field(None, max_length=2000)


class CancelBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500, description="Withdrawn, duplicate of ...")


class NoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=4000)


class ReclassifyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: Category
    reason: str = Field(min_length=1, max_length=500)


class Note(BaseModel):
    author: str
    at: datetime
    text: str


class StatusChange(BaseModel):
    from_status: str | None
    to_status: str
    actor: str
    at: datetime
    reason: str | None = None


class TimelineItem(BaseModel):
    kind: str
    actor: str
    at: datetime
    detail: dict[str, Any]


class ComplaintRead(BaseModel):
    """A complaint as the system of record shows it."""

    ticket_no: str
    status: str
    channel: str
    msisdn: str | None = Field(
        description="Masked unless the caller's role needs the full number; null for a ticket "
        "without a customer (see no_customer_reason)"
    )
    no_customer_reason: str | None = None
    description: str
    category: str
    category_confidence: float
    severity: str
    major: bool
    major_reasons: list[str]
    over_level: bool
    accepting_department: str
    user_type: str | None = None
    desk_id: str | None = None
    store_id: str | None = None
    source: Source | None = None
    assignment: Assignment
    allowed_commands: list[str] = Field(description="Lifecycle commands valid right now")
    sla: list[dict[str, Any]] = Field(description="SLA clocks as published by the sla service")
    refunds: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Refunds by id as published by the refund service"
    )
    resolution: dict[str, Any] | None = None
    feedback: dict[str, Any] | None = None
    reopen_count: int = 0
    received_at: datetime
    updated_at: datetime | None = None
    status_history: list[StatusChange] = Field(default_factory=list)
    notes: list[Note] = Field(default_factory=list)
    timeline: list[TimelineItem] = Field(default_factory=list)


class ComplaintPage(BaseModel):
    items: list[ComplaintRead]
    next_cursor: str | None
