"""Notify's settings: local sinks in the embedded default, real gateways in production."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from services.notify.settings import NotifySettings

PRODUCTION: dict[str, Any] = {
    "env": "production",
    "database_url": "postgresql+asyncpg://notify@db/notify",
    "jwt_secret": "a-production-secret-that-is-long-enough-0123456789",
    "smpp_password": "s3cret-from-the-operator",
    "smtp_tls": "starttls",
    "jwt_audience": "complaints-10086",
    "jwt_issuer": "https://sso.internal",
}


def test_the_embedded_default_starts_sinks_and_allows_local_webhook_targets() -> None:
    s = NotifySettings()
    assert s.sinks_on and s.private_targets_allowed


def test_production_sends_to_real_gateways_and_refuses_private_targets() -> None:
    s = NotifySettings(**PRODUCTION)
    assert not s.sinks_on and not s.private_targets_allowed


@pytest.mark.parametrize(
    "override",
    [
        {"sinks_enabled": True},
        {"webhook_allow_private_targets": True},
        {"smpp_password": "notify"},
    ],
)
def test_production_refuses_development_shortcuts(override: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        NotifySettings(**{**PRODUCTION, **override})


def test_department_and_staff_addresses_come_from_settings() -> None:
    s = NotifySettings(department_emails={"billing_support": "bill@gd.10086.cn"})
    assert s.department_email("billing_support") == "bill@gd.10086.cn"
    assert s.department_email("new_dept") == "new_dept@complaints.10086.example"
    assert s.staff_email("mgr_network") == "mgr_network@complaints.10086.example"
