"""SLA settings (env prefix SLA_)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.sla.clock import WarningRule
from services.sla.policy import SlaPolicy
from shared.settings import ServiceSettings


class SlaSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SLA_", extra="ignore", env_nested_delimiter="__")

    service_name: str = "sla"
    port: int = 8003
    policy: SlaPolicy = SlaPolicy()
    """The clocks and their limits (services/sla/policy.py holds the seed defaults); ops
    change it at run time with PUT /v1/sla/policy (stored, audited)."""
    warn_at_fraction: float | None = 0.75
    """Warn once this share of a clock's budget is used (None: no such warning)."""
    warn_working_days_before_due: int | None = 1
    """...or this many working days before a working-day deadline, whichever is first."""
    scheduler_batch: int = 500
    """Due clocks read per tick (by the next-fire index)."""
    fire_chunk: int = 500
    """Clocks fired per transaction (a whole tick's batch by default: one claim, one
    executemany of the recomputed rows and one bulk outbox INSERT per transaction)."""

    def warning_rule(self) -> WarningRule:
        return WarningRule(
            fraction=self.warn_at_fraction,
            working_days_before_due=self.warn_working_days_before_due,
        )
