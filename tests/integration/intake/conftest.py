"""An intake service on a real database and broker, driven in-process over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from services.intake.app import create_app
from services.intake.settings import IntakeSettings
from shared.broker import Broker
from shared.service import Runtime
from tests.builders import running, settings_for
from tests.conftest import DbTarget


@pytest.fixture
async def intake(
    db_target: DbTarget, broker: Broker
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    settings = settings_for(
        IntakeSettings, db_target, broker.bootstrap, relay_enabled=False, consumers_enabled=False
    )
    async with running(create_app(settings)) as pair:
        yield pair
