"""SLA tables: the working-day calendar (official years, overrides, audit) and the clocks.

A clock stores its policy limit (a snapshot: policy changes apply to new tickets) and its
pause/resume log; `due_at`, `warn_at` and `next_fire_at` are derived from them and kept
for the index the scheduler reads (never a scan of all clocks).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import TYPE_ANNOTATION_MAP, service_metadata, utcnow
from shared.policy_store import PolicyVersionMixin
from shared.service import Platform


class Base(DeclarativeBase):
    metadata = service_metadata()
    type_annotation_map = TYPE_ANNOTATION_MAP


platform = Platform("sla", Base)


class CalendarDay(Base):
    """An explicit calendar entry: an official holiday/make-up day, or an ops override."""

    __tablename__ = "calendar_day"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    workday: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(String(500))


class CalendarYear(Base):
    """A year with an official arrangement (years not here are provisional)."""

    __tablename__ = "calendar_year"
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    origin: Mapped[str] = mapped_column(String(32))
    loaded_by: Mapped[str] = mapped_column(String(64))
    loaded_at: Mapped[datetime] = mapped_column(default=utcnow)


class CalendarChange(Base):
    """Audit of every calendar change; its highest id is the calendar's version."""

    __tablename__ = "calendar_change"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Clock(Base):
    __tablename__ = "clock"
    __table_args__ = (
        UniqueConstraint("ticket_no", "name"),
        Index("ix_clock_next_fire", "next_fire_at"),
        Index("ix_clock_state_due", "state", "due_at"),
        Index("ix_clock_open_provisional", "open", "provisional"),
    )
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    ticket_no: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(32))
    over_level: Mapped[bool] = mapped_column(Boolean, default=False)
    category: Mapped[str] = mapped_column(String(32))
    handler_department: Mapped[str | None] = mapped_column(String(64))
    limit_unit: Mapped[str] = mapped_column(String(16))
    limit_amount: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    pauses: Mapped[list[list[str | None]]] = mapped_column(JSON, default=list)
    """[[paused_at, resumed_at | null], ...] as ISO UTC strings: the clock's pause log."""
    met_at: Mapped[datetime | None]
    open: Mapped[bool] = mapped_column(Boolean, default=True)
    """Running or paused (not met, not cancelled)."""
    state: Mapped[str] = mapped_column(String(16), default="running")
    due_at: Mapped[datetime]
    warn_at: Mapped[datetime | None]
    provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    warned_at: Mapped[datetime | None]
    breached_at: Mapped[datetime | None]
    next_fire_at: Mapped[datetime | None]
    """The next warning or breach this clock owes; null when paused or stopped."""
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PolicyVersion(Base, PolicyVersionMixin):
    """The SLA policy as ops changed it at run time (see shared.policy_store)."""

    __tablename__ = "policy_version"


class ClockExtension(Base):
    """An extension (延期) of a clock: who, when, why, by how much, the deadline before/after."""

    __tablename__ = "clock_extension"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_no: Mapped[str] = mapped_column(String(32), index=True)
    clock: Mapped[str] = mapped_column(String(32))
    working_days: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(500))
    extended_by: Mapped[str] = mapped_column(String(64))
    extended_at: Mapped[datetime] = mapped_column(default=utcnow)
    old_due_at: Mapped[datetime]
    new_due_at: Mapped[datetime]
