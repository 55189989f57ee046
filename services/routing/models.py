"""Routing tables: the directory and responsibility matrix (audited), assignments, their
history, supervision, and the same-content clusters."""

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


platform = Platform("routing", Base)


class Department(Base):
    __tablename__ = "department"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    manager: Mapped[str] = mapped_column(String(64))


class ResponsibilityRule(Base):
    __tablename__ = "responsibility_rule"
    category: Mapped[str] = mapped_column(String(32), primary_key=True)
    department_code: Mapped[str] = mapped_column(ForeignKey("department.code"))


class DirectoryChange(Base):
    """Audit of every change ops make to the directory or the matrix."""

    __tablename__ = "directory_change"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entity: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Assignment(Base):
    __tablename__ = "assignment"
    __table_args__ = (
        Index("ix_assignment_queue", "handler_department", "closed", "priority", "received_at"),
        Index("ix_assignment_progress_due", "next_progress_notice_at"),
        Index("ix_assignment_plan_due", "temporary_plan_due_at"),
    )
    ticket_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    category: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    major: Mapped[bool] = mapped_column(Boolean, default=False)
    over_level: Mapped[bool] = mapped_column(Boolean, default=False)
    priority: Mapped[int] = mapped_column(Integer, default=3)
    """Queue order: 0 urgent, 1 major, 2 over-level, 3 normal (then oldest first)."""
    owner_department: Mapped[str] = mapped_column(String(64))
    handler_department: Mapped[str] = mapped_column(String(64), index=True)
    assignee: Mapped[str | None] = mapped_column(String(64))
    supervisor: Mapped[str | None] = mapped_column(String(64))
    transfer_count: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="received")
    closed: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[datetime]
    assigned_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_progress_notice_at: Mapped[datetime | None]
    """When the complaining department is next owed a progress notice (fix > 4 days)."""
    temporary_plan_due_at: Mapped[datetime | None]
    """A major complaint from a defect owes a temporary plan within 1 hour."""
    temporary_plan: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class AssignmentHistory(Base):
    """Who moved a ticket where, when and why (dispatch, transfer, claim, escalation)."""

    __tablename__ = "assignment_history"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_no: Mapped[str] = mapped_column(ForeignKey("assignment.ticket_no"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    from_department: Mapped[str | None] = mapped_column(String(64))
    to_department: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class SupervisionEntry(Base):
    """The supervision ledger (督办台账): appointments and every progress entry."""

    __tablename__ = "supervision_entry"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_no: Mapped[str] = mapped_column(ForeignKey("assignment.ticket_no"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    author: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class SurgeInput(Base):
    """What surge detection needs of a complaint, from TicketReceived."""

    __tablename__ = "surge_input"
    ticket_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    desk_id: Mapped[str | None] = mapped_column(String(64))
    store_id: Mapped[str | None] = mapped_column(String(64))
    location: Mapped[str | None] = mapped_column(String(200))
    over_level: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[datetime]


class SurgeSignal(Base):
    """The ordered log the single surge worker applies: complaints to observe, first answers,
    and ops commands (merge, split, resolve). Any replica appends; one worker applies."""

    __tablename__ = "surge_signal"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    ticket_no: Mapped[str | None] = mapped_column(String(32))
    cluster_id: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class SurgeCursor(Base):
    """How far the surge worker got, and which replica holds the worker's lease."""

    __tablename__ = "surge_cursor"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    holder: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]


class SurgeCluster(Base):
    """A same-content cluster as the API shows it (kept by the surge worker)."""

    __tablename__ = "surge_cluster"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    category: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), default="active", index=True)
    level: Mapped[str | None] = mapped_column(String(32))
    count: Mapped[int] = mapped_column(Integer, default=0)
    count_before_answer: Mapped[int] = mapped_column(Integer, default=0)
    tickets: Mapped[list[str]] = mapped_column(JSON, default=list)
    departments: Mapped[list[str]] = mapped_column(JSON, default=list)
    major: Mapped[bool] = mapped_column(Boolean, default=False)
    first_seen_at: Mapped[datetime]
    discovered_at: Mapped[datetime | None]
    answer_due_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    incident_id: Mapped[int | None] = mapped_column(Integer)
    resolution: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None]
    # the department's first answer (初步答复), given by command
    answer_text: Mapped[str | None] = mapped_column(Text)
    answered_by: Mapped[str | None] = mapped_column(String(64))
    # becoming major: one leadership notice and one temporary-plan clock per cluster
    major_noticed_at: Mapped[datetime | None]
    temporary_plan_due_at: Mapped[datetime | None] = mapped_column(index=True)
    temporary_plan_at: Mapped[datetime | None]
    temporary_plan_text: Mapped[str | None] = mapped_column(Text)
    temporary_plan_by: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # why each member joined: [{"ticket_no", "reasons": ["place:翠苑", ...]}], oldest first
    members: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    reasons: Mapped[dict[str, int] | None] = mapped_column(JSON)  # how often each reason


class SurgeCorrection(Base):
    """What an ops merge or split taught the surge detector, as data it loads on every start:
    alias (p:石牌桥地铁站 is p:岗顶 from now on) or distinct (新世界 and 金沙洲新世界 are two)."""

    __tablename__ = "surge_correction"
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(String(200), primary_key=True)
    cluster_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SurgeAlertLog(Base):
    """Every alert raised; the key makes each (cluster, rule, scope) fire once."""

    __tablename__ = "surge_alert"
    cluster_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    rule: Mapped[str] = mapped_column(String(32), primary_key=True)
    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    notify_role: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer)
    raised_at: Mapped[datetime]


class Incident(Base):
    """Emergency mode (应急预案): matching complaints are absorbed into one cluster."""

    __tablename__ = "incident"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(32))
    area: Mapped[str | None] = mapped_column(String(200))
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    cluster_id: Mapped[str | None] = mapped_column(String(64))
    declared_by: Mapped[str] = mapped_column(String(64))
    declared_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]
    grade: Mapped[str] = mapped_column(String(32), default="general")
    cause: Mapped[str | None] = mapped_column(Text)
    resolution: Mapped[str | None] = mapped_column(Text)
    closed_by: Mapped[str | None] = mapped_column(String(64))
    ticket_count: Mapped[int] = mapped_column(Integer, default=0)


class StaffRole(Base):
    """The staff directory: who holds a role the rules address, for which unit (a 10086 front
    desk, a service hall, a department, or `*` for every unit) and, for shift leaders, which
    shift."""

    __tablename__ = "staff_role"
    __table_args__ = (UniqueConstraint("role", "unit", "shift", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    role: Mapped[str] = mapped_column(String(32), index=True)
    unit: Mapped[str] = mapped_column(String(64), index=True)
    shift: Mapped[str] = mapped_column(String(16), default="")
    name: Mapped[str] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(254))
    mobile: Mapped[str | None] = mapped_column(String(20))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
