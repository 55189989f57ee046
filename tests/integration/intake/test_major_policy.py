"""The major-complaint threshold is configuration (seed 004 §3.5 (5): 联名投诉客户超过3人),
read by every way a complaint comes in."""

from __future__ import annotations

import pytest

from services.intake.app import create_app
from services.intake.settings import IntakeSettings
from shared.broker import Broker
from tests.builders import auth, complaint, running, settings_for
from tests.conftest import DbTarget


async def _major(db_target: DbTarget, broker: Broker, joint: int) -> bool:
    settings = settings_for(
        IntakeSettings, db_target, broker.bootstrap, relay_enabled=False, consumers_enabled=False
    )
    async with running(create_app(settings)) as (client, _):
        body = complaint(description="我们四户联名投诉小区信号差", joint_complainants=joint)
        r = await client.post("/v1/complaints", json=body, headers=auth("agent"))
        assert r.status_code == 201, r.text
        return bool(r.json()["major"])


async def test_a_joint_complaint_of_more_than_three_is_major_by_default(
    db_target: DbTarget, broker: Broker
) -> None:
    assert not await _major(db_target, broker, 3)
    assert await _major(db_target, broker, 4)


async def test_another_province_sets_its_own_threshold(
    db_target: DbTarget, broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTAKE_MAJOR__JOINT_COMPLAINANTS_OVER", "5")
    assert not await _major(db_target, broker, 5)
    assert await _major(db_target, broker, 6)
