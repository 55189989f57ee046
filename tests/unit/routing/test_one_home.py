"""Routing's settings take their defaults from the policy objects (one home each), so a
changed default cannot drift between the settings and the rules."""

from __future__ import annotations

import pytest

from services.routing.domain import EscalationPolicy
from services.routing.settings import RoutingSettings
from services.routing.surge import SurgeConfig


def test_escalation_defaults_are_the_policys() -> None:
    assert RoutingSettings().escalation_policy() == EscalationPolicy()


@pytest.mark.parametrize(
    "field",
    [
        "desk_count",
        "hall_count",
        "first_answer_within",
        "department_manager_over",
        "company_leader_over",
        "over_level_over",
        "window",
        "similarity",
        "similarity_confirmed",
    ],
)
def test_surge_defaults_are_the_surge_configs(field: str) -> None:
    assert getattr(RoutingSettings().surge_config(), field) == getattr(SurgeConfig(), field)


def test_an_env_override_still_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTING_PROGRESS_NOTICE_AFTER_DAYS", "6")
    monkeypatch.setenv("ROUTING_SURGE_DESK_COUNT", "5")
    settings = RoutingSettings()
    assert settings.escalation_policy().progress_notice_after_days == 6
    assert settings.surge_config().desk_count == 5
