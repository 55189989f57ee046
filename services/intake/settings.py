"""Intake settings (env prefix INTAKE_)."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from services.intake.policy import MajorPolicy, ReportTargets
from shared.settings import ServiceSettings

DEV_PARTNER_SECRETS = {
    # base64 of "dev-only-partner-secret-12300!!!" / "...-cca!!!!!": embedded default only
    "miit_12300": "whsec_ZGV2LW9ubHktcGFydG5lci1zZWNyZXQtMTIzMDAhISE=",
    "consumer_association": "whsec_ZGV2LW9ubHktcGFydG5lci1zZWNyZXQtY2NhISEhISE=",
}


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="INTAKE_", extra="ignore", env_nested_delimiter="__"
    )

    service_name: str = "intake"
    port: int = 8001
    default_department: str = "frontdesk_10086"
    """The accepting department when the caller's token names none (首问负责)."""
    partner_secrets: dict[str, str] = Field(default_factory=lambda: dict(DEV_PARTNER_SECRETS))
    """Partner id → its Standard Webhooks secret (`whsec_...`); INTAKE_PARTNER_SECRETS as JSON."""
    major: MajorPolicy = MajorPolicy()
    """Major-complaint thresholds (services/intake/policy.py, seed 004 §3.5)."""
    report_targets: ReportTargets = ReportTargets()
    """KPI targets on the monthly report (services/intake/policy.py, seed 002)."""
    sp_subscribers: dict[str, int] = Field(default_factory=dict)
    """SP code → its subscriber count, for complaints per 10,000 users (INTAKE_SP_SUBSCRIBERS
    as JSON); SPs not listed are reported without a rate."""
    user_type_asserters: frozenset[str] = frozenset({"customer_profile"})
    """Token roles trusted to state a customer's `user_type` (prepaid/postpaid): the
    front-end's customer-profile integration. The fact decides front-line refund authority
    (seed 004 §2.5), so a filer without one of these roles may not set it (422 naming
    `user_type`); who asserted it is recorded. Platform policy, not from a seed."""
    partner_timestamp_tolerance_s: int = 300
    """How far a partner's `webhook-timestamp` may be from our clock."""
    survey_no_reply_days: int = Field(3, ge=1)
    """A resolved complaint whose survey got no answer in this many days is closed with
    feedback `no_reply` (issue 15's default; the seeds name no number)."""
    archive_after_working_days: int = Field(3, ge=1)
    """Closed complaints are archived within this many working days (seed 003 §3.5.3,
    完成后3个工作日内归档)."""
    retention_years: int = Field(3, ge=1)
    """Customer data of archived complaints is kept at least this long, then anonymised
    (seed 003 §4.4.2, 保存至少3年); the statistics stay."""
    lifecycle_batch: int = Field(200, ge=1)
    """How many due complaints one timer tick closes, archives or anonymises."""

    @model_validator(mode="after")
    def _no_dev_partner_secrets_in_production(self) -> IntakeSettings:
        dev = set(DEV_PARTNER_SECRETS.values())
        if self.production and dev & set(self.partner_secrets.values()):
            raise ValueError("production must not use the development partner secrets")
        return self
