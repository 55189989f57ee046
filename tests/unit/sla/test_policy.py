"""The SLA policy as data: seed defaults, every seed clock present (on or off), rows in order,
overrides from settings, and the extension rule."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.sla.clock import Limit
from services.sla.policy import (
    CLOCK_ORDER,
    DEFAULT_POLICY,
    ExtensionRefused,
    SlaPolicy,
    check_extension,
    met_by,
)
from services.sla.settings import SlaSettings

THREE = {
    "acceptance": Limit("hours", 24),
    "first_reply": Limit("working_days", 7),
    "resolution": Limit("working_days", 20),
    "regulator": Limit("calendar_days", 15),
}


@pytest.mark.parametrize("severity", ["normal", "major"])
@pytest.mark.parametrize("over_level", [False, True])
def test_every_complaint_gets_the_seed_limits_whatever_its_severity(
    severity: str, over_level: bool
) -> None:
    limits = DEFAULT_POLICY.limits(
        severity=severity, channel="12300", category="network", over_level=over_level
    )
    assert limits == THREE


def test_an_urgent_complaint_is_accepted_within_the_hour_and_keeps_the_other_limits() -> None:
    limits = DEFAULT_POLICY.limits(severity="urgent", channel="hotline")
    assert limits == {**THREE, "acceptance": Limit("hours", 1)}


def test_every_clock_the_seeds_name_is_a_row_and_only_the_three_and_the_regulator_run() -> None:
    named = {r.clock for r in DEFAULT_POLICY.rules}
    assert named == set(CLOCK_ORDER)
    enabled = {r.clock for r in DEFAULT_POLICY.rules if r.enabled}
    assert enabled == set(THREE)
    assert all(r.source for r in DEFAULT_POLICY.rules), "each row cites its seed"
    off = {r.clock: r.limit for r in DEFAULT_POLICY.rules if not r.enabled}
    assert off["confirmation"].unit == "minutes" and off["confirmation"].amount == 10
    assert off["initial_investigation"].amount == 48
    assert (off["closed_loop"].amount, off["detailed_investigation"].amount) == (30, 15)


def test_a_clock_switched_on_for_one_category_runs_only_there() -> None:
    rows = [r.model_dump() for r in DEFAULT_POLICY.rules]
    sp_answer = {"clock": "sp_answer", "limit": {"unit": "working_days", "amount": 7}}
    policy = SlaPolicy.model_validate({"rules": [{**sp_answer, "category": "value_added"}, *rows]})
    assert "sp_answer" in policy.limits(severity="normal", channel="web", category="value_added")
    assert "sp_answer" not in policy.limits(severity="normal", channel="web", category="billing")


def test_clocks_that_start_at_resolution_start_only_there() -> None:
    rows = [
        {**r.model_dump(), "enabled": True} if r.clock == "result_feedback" else r.model_dump()
        for r in DEFAULT_POLICY.rules
    ]
    policy = SlaPolicy.model_validate({"rules": rows})
    assert "result_feedback" not in policy.limits(severity="normal", channel="web")
    at_resolution = policy.limits(severity="normal", channel="web", starts_on="resolved")
    assert at_resolution == {"result_feedback": Limit("working_days", 2)}
    assert met_by("closed", ["result_feedback", "acceptance"]) == ["result_feedback", "acceptance"]


def test_a_clock_without_a_catch_all_row_is_refused() -> None:
    with pytest.raises(ValidationError, match="catch-all"):
        SlaPolicy.model_validate(
            {
                "rules": [
                    {
                        "clock": "acceptance",
                        "limit": {"unit": "hours", "amount": 1},
                        "severity": "urgent",
                    }
                ]
            }
        )
    with pytest.raises(ValidationError):
        SlaPolicy.model_validate(
            {"rules": [{"clock": "acceptance", "limit": {"unit": "hours", "amount": 0}}]}
        )


def test_settings_override_the_policy_by_nested_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLA_POLICY__EXTENSION__MAX_WORKING_DAYS", "5")
    monkeypatch.setenv(
        "SLA_POLICY__RULES",
        '[{"clock": "acceptance", "limit": {"unit": "hours", "amount": 12}},'
        ' {"clock": "resolution", "limit": {"unit": "working_days", "amount": 15}}]',
    )
    policy = SlaSettings().policy
    assert policy.extension.max_working_days == 5
    assert policy.limits(severity="normal", channel="web") == {
        "acceptance": Limit("hours", 12),
        "resolution": Limit("working_days", 15),
    }
    assert SlaSettings.model_fields["policy"].default == DEFAULT_POLICY


def test_only_a_major_complaint_may_be_extended_and_never_beyond_the_maximum() -> None:
    check_extension(
        DEFAULT_POLICY, clock="resolution", severity="major", already=0, working_days=10
    )
    with pytest.raises(ExtensionRefused) as refused:
        check_extension(
            DEFAULT_POLICY, clock="resolution", severity="major", already=6, working_days=5
        )
    assert refused.value.field == "working_days"
    with pytest.raises(ExtensionRefused) as refused:
        check_extension(
            DEFAULT_POLICY, clock="resolution", severity="normal", already=0, working_days=1
        )
    assert "major" in refused.value.message
    with pytest.raises(ExtensionRefused):
        check_extension(
            DEFAULT_POLICY, clock="first_reply", severity="major", already=0, working_days=1
        )
