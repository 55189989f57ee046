"""Refund settings (env prefix REFUND_): authority limits, clocks and the audit key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from services.refund.models import PolicyVersion
from services.refund.policy import AuthorityPolicy
from shared.policy_store import PolicyStore
from shared.settings import ServiceSettings, is_example_secret

DEV_AUDIT_KEY = "dev-only-refund-audit-key-change-me-0123456789"


@dataclass(frozen=True)
class RefundRules:
    """What the use cases need from the settings, built once per app."""

    policies: PolicyStore[AuthorityPolicy]
    """The authority policy: settings' default, run-time versions (PUT /v1/refunds/policy)."""
    approval_timeout: timedelta
    proof_window: timedelta
    audit_key: bytes

    @property
    def policy(self) -> AuthorityPolicy:
        """The settings' default (input ceilings before a complaint is known)."""
        return self.policies.default


class RefundSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="REFUND_", extra="ignore", env_nested_delimiter="__"
    )

    service_name: str = "refund"
    port: int = 8004

    authority: AuthorityPolicy = AuthorityPolicy()
    """Who may approve how much (services/refund/policy.py holds the seed 004 §2.5 defaults);
    e.g. REFUND_AUTHORITY__FRONT_LINE_FEN=5000. Ops change it at run time with the audited
    PUT /v1/refunds/policy."""
    approval_timeout: timedelta = Field(
        timedelta(hours=24), description="A pending refund undecided this long escalates"
    )
    """No seed number: a day keeps an undecided refund from waiting past the next shift."""
    sp_proof_window: timedelta = Field(
        timedelta(days=15), description="Time an SP has to prove a disputed charge"
    )
    """已付费用户...代理双方在15日内无法提供证据...先行向用户做暂退费处理 (seed 002)."""
    audit_key: str = Field(DEV_AUDIT_KEY, description="HMAC key of the audit chain")

    @model_validator(mode="after")
    def _check(self) -> RefundSettings:
        if self.approval_timeout <= timedelta(0) or self.sp_proof_window <= timedelta(0):
            raise ValueError("approval_timeout and sp_proof_window must be positive")
        if self.production and (
            self.audit_key == DEV_AUDIT_KEY
            or is_example_secret(self.audit_key)
            or len(self.audit_key) < 32
        ):
            raise ValueError(
                "REFUND_AUDIT_KEY is a development key; refusing to start in production"
            )
        return self

    def rules(self) -> RefundRules:
        return RefundRules(
            policies=PolicyStore("authority", AuthorityPolicy, PolicyVersion, self.authority),
            approval_timeout=self.approval_timeout,
            proof_window=self.sp_proof_window,
            audit_key=self.audit_key.encode("utf-8"),
        )
