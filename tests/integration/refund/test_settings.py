"""Refund settings: the authority ladder and clocks are configuration, and production refuses
the development audit key."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from services.refund.authority import Role, required_role
from services.refund.settings import DEV_AUDIT_KEY, RefundSettings

PG = "postgresql+asyncpg://refund@db/refund"
JWT = "a-production-jwt-secret-of-enough-length-0123"


def test_the_defaults_are_the_seed_numbers() -> None:
    rules = RefundSettings().rules()
    assert rules.policy.limit_of(Role.FRONTLINE) == 10_000
    assert rules.policy.limit_of(Role.ROOM_MANAGER) == 50_000
    assert rules.policy.limit_of(Role.CENTRE_MANAGER) == 200_000
    assert rules.proof_window == rules.policy.provisional_after == timedelta(days=15)
    assert rules.approval_timeout == timedelta(hours=24)


def test_another_province_sets_its_own_limits_and_clocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFUND_FRONTLINE_LIMIT_FEN", "5000")
    monkeypatch.setenv("REFUND_FRONTLINE_USER_TYPES", '["prepaid", "postpaid"]')
    monkeypatch.setenv("REFUND_SP_PROOF_WINDOW", "P10D")
    monkeypatch.setenv("REFUND_APPROVAL_TIMEOUT", "PT4H")
    rules = RefundSettings().rules()
    assert required_role(5_000, "postpaid", policy=rules.policy) is Role.FRONTLINE
    assert required_role(5_001, "prepaid", policy=rules.policy) is Role.ROOM_MANAGER
    assert rules.proof_window == timedelta(days=10)
    assert rules.approval_timeout == timedelta(hours=4)


def test_limits_out_of_order_are_refused() -> None:
    with pytest.raises(ValidationError, match="strictly increasing"):
        RefundSettings(room_manager_limit_fen=300_000)


def test_production_refuses_the_development_audit_key() -> None:
    with pytest.raises(ValidationError, match="REFUND_AUDIT_KEY"):
        RefundSettings(env="production", database_url=PG, jwt_secret=JWT)
    with pytest.raises(ValidationError, match="REFUND_AUDIT_KEY"):
        RefundSettings(env="production", database_url=PG, jwt_secret=JWT, audit_key="short")
    key = "k" * 40
    settings = RefundSettings(env="production", database_url=PG, jwt_secret=JWT, audit_key=key)
    assert settings.rules().audit_key == key.encode() != DEV_AUDIT_KEY.encode()
