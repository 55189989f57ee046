"""SLA request and response models."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["normal", "major", "urgent"]


class LimitRead(BaseModel):
    unit: Literal["minutes", "hours", "working_days", "calendar_days"]
    amount: int


class PauseRead(BaseModel):
    paused_at: datetime
    resumed_at: datetime | None


class ClockRead(BaseModel):
    name: str = Field(description="acceptance | first_reply | resolution | regulator")
    state: Literal["running", "paused", "met", "breached", "cancelled"]
    limit: LimitRead
    started_at: datetime
    due_at: datetime = Field(description="The deadline (paused time extends it)")
    remaining_seconds: float = Field(description="Effective time left; negative when overdue")
    elapsed_working_time_seconds: float = Field(
        description="Effective time used: working time for working-day limits, else all time"
    )
    elapsed_fraction: float
    provisional: bool = Field(description="The deadline lies in or crosses a provisional year")
    warn_at: datetime | None
    warned_at: datetime | None
    breached_at: datetime | None
    met_at: datetime | None
    pauses: list[PauseRead]


class TicketClocks(BaseModel):
    ticket_no: str
    handler_department: str | None
    clocks: list[ClockRead]


class PreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    received_at: datetime
    severity: Severity = "normal"
    channel: str = Field("hotline", max_length=32)
    category: str | None = Field(None, max_length=32)
    over_level: bool = False


class PreviewClock(BaseModel):
    name: str
    limit: LimitRead
    due_at: datetime
    provisional: bool


class Preview(BaseModel):
    received_at: datetime
    clocks: list[PreviewClock]


class ClockSummary(BaseModel):
    ticket_no: str
    name: str
    state: str
    due_at: datetime
    handler_department: str | None
    category: str
    severity: str
    breached_at: datetime | None = None


class KpiRow(BaseModel):
    group: str
    clock: str
    ended: int = Field(description="Clocks met or breached in the period")
    on_time: int
    timeliness_rate: float | None = Field(description="及时率: on time / ended")


class Kpis(BaseModel):
    period_from: datetime
    period_to: datetime
    group_by: str
    rows: list[KpiRow]
    tickets: int
    replied: int
    reply_rate: float | None = Field(description="回复率: tickets with a first reply / tickets")


class DayRead(BaseModel):
    date: date
    workday: bool
    source: Literal["official", "override", "provisional"]
    name: str | None = None
    note: str | None = None


class DayEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    date: date
    name: str | None = Field(None, max_length=100)


class YearArrangement(BaseModel):
    """The State Council's arrangement for a year: holidays and make-up working days."""

    model_config = ConfigDict(extra="forbid")
    holidays: list[DayEntry] = Field(max_length=60)
    workdays: list[DayEntry] = Field(default_factory=list, max_length=30)


class DayOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")
    workday: bool
    note: str = Field(min_length=1, max_length=500, description="Why ops decided this")


class CalendarChangeRead(BaseModel):
    action: str
    target: str
    actor: str
    detail: dict[str, object]
    at: datetime


class YearLoaded(BaseModel):
    year: int
    days: int
    tickets_recomputed: int
