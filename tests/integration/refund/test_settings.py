"""Refund settings: the authority policy is configuration (nested env over the seed
defaults), and production refuses the development audit key."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from services.refund.authority import Role, required_role
from services.refund.settings import DEV_AUDIT_KEY, RefundSettings

PG = "postgresql+asyncpg://refund@db/refund"
JWT = "a-production-jwt-secret-of-enough-length-0123"
BASE = {"database_url": PG, "jwt_secret": JWT, "jwt_audience": "a", "jwt_issuer": "i"}


def test_the_defaults_are_the_seed_numbers() -> None:
    rules = RefundSettings().rules()
    assert rules.policy.limit_of(Role.FRONTLINE) == 10_000
    assert rules.policy.limit_of(Role.ROOM_MANAGER) == 50_000
    assert rules.policy.limit_of(Role.CENTRE_MANAGER) == 200_000
    assert rules.policy.limit_of(Role.LEADERSHIP) is None
    front_line = {c for c, t in rules.policy.charge_types.items() if t.front_line}
    assert front_line == {"monternet", "missed_promotion"}
    assert rules.policy.basis == "per_refund" and rules.policy.anti_split_hours == 24
    assert rules.proof_window == timedelta(days=15)
    assert rules.approval_timeout == timedelta(hours=24)


def test_another_province_sets_its_own_limits_and_clocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFUND_AUTHORITY__FRONT_LINE_FEN", "5000")
    monkeypatch.setenv("REFUND_AUTHORITY__ROOM_MANAGER_FEN", "30000")
    monkeypatch.setenv("REFUND_AUTHORITY__FRONT_LINE_USER_TYPES", '["prepaid", "postpaid"]')
    monkeypatch.setenv("REFUND_SP_PROOF_WINDOW", "P10D")
    monkeypatch.setenv("REFUND_APPROVAL_TIMEOUT", "PT4H")
    rules = RefundSettings().rules()
    m = "monternet"
    assert required_role(5_000, "postpaid", charge_type=m, policy=rules.policy) is Role.FRONTLINE
    assert required_role(5_001, "prepaid", charge_type=m, policy=rules.policy) is Role.ROOM_MANAGER
    assert required_role(30_001, "prepaid", policy=rules.policy) is Role.CENTRE_MANAGER
    assert rules.policy.centre_manager_fen == 200_000  # untouched fields keep the seed default
    assert rules.proof_window == timedelta(days=10)
    assert rules.approval_timeout == timedelta(hours=4)


def test_limits_out_of_order_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFUND_AUTHORITY__ROOM_MANAGER_FEN", "300000")
    with pytest.raises(ValidationError, match="centre_manager_fen"):
        RefundSettings()


def test_production_refuses_the_development_audit_key() -> None:
    with pytest.raises(ValidationError, match="REFUND_AUDIT_KEY"):
        RefundSettings(env="production", **BASE)
    with pytest.raises(ValidationError, match="REFUND_AUDIT_KEY"):
        RefundSettings(env="production", **BASE, audit_key="short")
    key = "k" * 40
    settings = RefundSettings(env="production", **BASE, audit_key=key)
    assert settings.rules().audit_key == key.encode() != DEV_AUDIT_KEY.encode()
