"""Intake's policies as typed data: the major-complaint thresholds (seed 004 §3.5) and the
report targets (the KPIs seed 002 names, with its numbers).

Overrides: `INTAKE_MAJOR__JOINT_COMPLAINANTS_OVER=5`, `INTAKE_REPORT_TARGETS__TIMELINESS_MIN=0.95`
and so on (nested env)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ReportTargets(BaseModel):
    """Monthly KPI targets, each checked pass/fail on the report; ops change them at run time
    with the audited `PUT /v1/reports/targets` (a month is judged by those in force at its end)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    timeliness_min: float = Field(0.90, ge=0, le=1)
    """及时率 > 90 % (seed 002, 梦网业务投诉处理及时率, question 36: D 90 %); strictly above."""
    reply_rate_min: float = Field(1.0, ge=0, le=1)
    """回复率 100 % (seed 002, 梦网业务投诉处理回复率, question 35: A 100 %)."""
    sp_per_10000_max: float = Field(5.0, ge=0)
    """梦网投诉率 < 5 complaints per 10,000 梦网 users per SP per month (seed 002, question 34)."""


class MajorPolicy(BaseModel):
    """What makes a complaint major at intake (the same-content counts, > 200 and > 3 from
    over-level bodies, are routing's: SurgeConfig)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    joint_complainants_over: int = Field(3, ge=1)
    """联名投诉客户超过3人的投诉 is major (seed 004 §3.5 (5)); strictly more than this."""
