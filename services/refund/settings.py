"""Refund settings (env prefix REFUND_): authority limits, clocks and the audit key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from services.refund.authority import AuthorityPolicy, RefundKind
from shared.settings import ServiceSettings

DEV_AUDIT_KEY = "dev-only-refund-audit-key-change-me-0123456789"


@dataclass(frozen=True)
class RefundRules:
    """What the use cases need from the settings, built once per app."""

    policy: AuthorityPolicy
    approval_timeout: timedelta
    proof_window: timedelta
    audit_key: bytes


class RefundSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REFUND_", extra="ignore")

    service_name: str = "refund"
    port: int = 8004

    frontline_limit_fen: int = Field(10_000, gt=0, description="Inclusive, per complaint")
    room_manager_limit_fen: int = Field(50_000, gt=0)
    centre_manager_limit_fen: int = Field(200_000, gt=0)
    frontline_user_types: frozenset[str] = frozenset({"prepaid"})
    frontline_kinds: frozenset[RefundKind] = frozenset(
        {RefundKind.REFUND, RefundKind.DOUBLE_REFUND, RefundKind.PROVISIONAL}
    )
    frontline_aliases: frozenset[str] = frozenset({"agent"})
    authority_basis: Literal["per_refund", "cumulative"] = "per_refund"
    """Seed 004 §2.5 (每次每单): limits apply to each refund on each ticket."""
    anti_split_window: timedelta | None = Field(
        timedelta(hours=24),
        description="Same ticket, same requester, within this window: counted together",
    )
    double_refund_factor: int = Field(2, ge=1)
    max_amount_fen: int = Field(100_000_000, gt=0, description="Above this an amount is absurd")
    approval_timeout: timedelta = Field(
        timedelta(hours=24), description="A pending refund undecided this long escalates"
    )
    sp_proof_window: timedelta = Field(
        timedelta(days=15), description="Time an SP has to prove a disputed charge"
    )
    audit_key: str = Field(DEV_AUDIT_KEY, description="HMAC key of the audit chain")

    @model_validator(mode="after")
    def _check(self) -> RefundSettings:
        self.authority_policy()  # limits must be positive and strictly increasing
        if self.approval_timeout <= timedelta(0) or self.sp_proof_window <= timedelta(0):
            raise ValueError("approval_timeout and sp_proof_window must be positive")
        if self.production and (self.audit_key == DEV_AUDIT_KEY or len(self.audit_key) < 32):
            raise ValueError(
                "REFUND_AUDIT_KEY is a development key; refusing to start in production"
            )
        return self

    def authority_policy(self) -> AuthorityPolicy:
        return AuthorityPolicy(
            frontline_limit_fen=self.frontline_limit_fen,
            room_manager_limit_fen=self.room_manager_limit_fen,
            centre_manager_limit_fen=self.centre_manager_limit_fen,
            frontline_user_types=self.frontline_user_types,
            frontline_kinds=self.frontline_kinds,
            double_refund_factor=self.double_refund_factor,
            provisional_after=self.sp_proof_window,
            max_amount_fen=self.max_amount_fen,
            frontline_aliases=self.frontline_aliases,
            basis=self.authority_basis,
            anti_split_window=self.anti_split_window,
        )

    def rules(self) -> RefundRules:
        return RefundRules(
            policy=self.authority_policy(),
            approval_timeout=self.approval_timeout,
            proof_window=self.sp_proof_window,
            audit_key=self.audit_key.encode("utf-8"),
        )
