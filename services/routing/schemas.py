"""Routing request and response models."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.events import Category

CATEGORY = Category
DepartmentKind = Literal["front_desk", "service_hall", "back_office", "leadership"]


class HistoryRead(BaseModel):
    action: str
    from_department: str | None
    to_department: str
    actor: str
    reason: str
    at: datetime


class SupervisionRead(BaseModel):
    kind: str
    author: str
    text: str
    at: datetime


class AssignmentRead(BaseModel):
    ticket_no: str
    category: str
    severity: str
    major: bool
    over_level: bool
    status: str
    owner_department: str = Field(description="The accepting department (首问负责), to the end")
    handler_department: str = Field(description="The responsible department (部门问责)")
    assignee: str | None
    supervisor: str | None
    transfer_count: int
    received_at: datetime
    assigned_at: datetime
    temporary_plan_due_at: datetime | None = None
    temporary_plan: str | None = None
    next_progress_notice_at: datetime | None = None
    history: list[HistoryRead] = Field(default_factory=list)
    supervision: list[SupervisionRead] = Field(default_factory=list)


class QueueItem(BaseModel):
    ticket_no: str
    category: str
    severity: str
    major: bool
    over_level: bool
    priority: int
    assignee: str | None
    received_at: datetime


class DepartmentRead(BaseModel):
    code: str
    name: str
    kind: str
    manager: str


class DepartmentWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    kind: DepartmentKind
    manager: str = Field(min_length=1, max_length=64, description="Staff id of the manager")


class MatrixRule(BaseModel):
    category: str
    department_code: str


class ProductRuleRead(BaseModel):
    """A dispatch-table product rule (services/routing/dispatch.json)."""

    products: list[str]
    categories: list[str]
    department_code: str
    source: str


class MatrixWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    department_code: str = Field(min_length=1, max_length=64)


class DirectoryChangeRead(BaseModel):
    entity: str
    key: str
    actor: str
    before: dict[str, object] | None
    after: dict[str, object] | None
    at: datetime


class TransferBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to_department: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=500)


class ReasonBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500)


class TextBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=4000)
