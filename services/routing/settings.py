"""Routing settings (env prefix ROUTING_)."""

from datetime import timedelta
from functools import cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from services.routing.domain import DISPATCH_PATH, DispatchTable, EscalationPolicy
from services.routing.staff_alerts import parse_shift_starts
from services.routing.surge import SurgeConfig
from shared.settings import ServiceSettings


@cache
def _table(path: Path) -> DispatchTable:
    return DispatchTable.load(path)


class RoutingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ROUTING_", extra="ignore")

    service_name: str = "routing"
    port: int = 8002
    # Escalation defaults have one home: EscalationPolicy (services/routing/domain.py).
    ping_pong_transfers: int = EscalationPolicy.ping_pong_transfers
    progress_notice_after_days: int = EscalationPolicy.progress_notice_after_days
    progress_notice_every_days: int = EscalationPolicy.progress_notice_every_days
    progress_notice_entries: int = 3
    """How many of the latest progress entries each notice quotes."""
    temporary_plan_within_minutes: int = EscalationPolicy.temporary_plan_within_minutes
    leadership_department: str = "leadership"
    dispatch_path: Path = DISPATCH_PATH
    """The dispatch table (services/routing/dispatch.json): product rules and category defaults."""

    # Surge defaults have one home: SurgeConfig (services/routing/surge/rules.py, seed 004 §3.5).
    surge_desk_count: int = SurgeConfig.desk_count
    """Same-content complaints at one front desk in one shift that alert the shift leader."""
    surge_hall_count: int = SurgeConfig.hall_count
    """...at one service hall within two days that alert its marketing manager."""
    surge_first_answer_minutes: int = SurgeConfig.first_answer_within // timedelta(minutes=1)
    surge_department_manager_over: int = SurgeConfig.department_manager_over
    surge_company_leader_over: int = SurgeConfig.company_leader_over
    surge_over_level_over: int = SurgeConfig.over_level_over
    surge_window_hours: int = SurgeConfig.window // timedelta(hours=1)
    surge_similarity: float = SurgeConfig.similarity
    """Estimated Jaccard that makes two complaints the same when the text alone decides..."""
    surge_similarity_confirmed: float = SurgeConfig.similarity_confirmed
    """...and when a known area agrees (see services/routing/surge/same.py)."""
    shift_starts: str = "08:00,20:00"
    """Local (Asia/Shanghai) starts of the front desks' shifts: day 08-20, night 20-08; a desk
    counts same-content complaints per shift and its shift leader is the one on duty."""
    surge_answer_from_reply: bool = False
    """Take any reply to a cluster's ticket as the department's first answer (the old guess);
    by default only the first-answer command (POST /v1/surges/{id}/first-answer) counts."""
    incident_inform_hours: dict[str, int] = Field(
        default_factory=lambda: {"general": 4, "large": 4, "major": 2, "especially_major": 2}
    )
    """Incident grades (一般/较大/重大/特别重大) and the hours within which leadership must be
    informed (seed 003 ch. 7: 重大 within 2 hours, 一般 within 4 hours)."""
    surge_enabled: bool = True
    surge_interval_s: float = 0.5
    surge_lease_s: float = 10.0

    @field_validator("shift_starts")
    @classmethod
    def _shifts(cls, value: str) -> str:
        parse_shift_starts(value)  # ValueError names the setting
        return value

    def surge_config(self) -> SurgeConfig:
        return SurgeConfig(
            desk_count=self.surge_desk_count,
            hall_count=self.surge_hall_count,
            first_answer_within=timedelta(minutes=self.surge_first_answer_minutes),
            department_manager_over=self.surge_department_manager_over,
            company_leader_over=self.surge_company_leader_over,
            over_level_over=self.surge_over_level_over,
            window=timedelta(hours=self.surge_window_hours),
            shift_starts=parse_shift_starts(self.shift_starts),
            similarity=self.surge_similarity,
            similarity_confirmed=self.surge_similarity_confirmed,
        )

    def dispatch_table(self) -> DispatchTable:
        return _table(self.dispatch_path)

    def escalation_policy(self) -> EscalationPolicy:
        return EscalationPolicy(
            ping_pong_transfers=self.ping_pong_transfers,
            progress_notice_after_days=self.progress_notice_after_days,
            progress_notice_every_days=self.progress_notice_every_days,
            temporary_plan_within_minutes=self.temporary_plan_within_minutes,
        )
