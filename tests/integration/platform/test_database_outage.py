"""The database goes away for a while: requests get 503 problem+json and change nothing,
readiness says not ready, and the service recovers by itself when the database is back.
PostgreSQL is reached through a TCP relay the test can cut and restore."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from services.intake.app import create_app
from services.intake.settings import IntakeSettings
from shared.broker import Broker
from tests.builders import auth, complaint, running, settings_for
from tests.conftest import DbTarget
from tests.tcp_relay import Relay


@pytest.mark.parametrize("db_target", ["postgresql"], indirect=True)
async def test_a_database_outage_is_503_then_the_service_recovers(
    db_target: DbTarget, broker: Broker
) -> None:
    url = make_url(db_target.url)
    relay = Relay(url.host or "127.0.0.1", url.port or 5432)
    await relay.start()
    via_relay = url.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)
    settings = settings_for(
        IntakeSettings, db_target, broker.bootstrap, relay_enabled=False, consumers_enabled=False
    )
    settings.database_url = via_relay
    async with running(create_app(settings)) as (client, _):
        ok = await client.post("/v1/complaints", json=complaint(), headers=auth("agent"))
        assert ok.status_code == 201
        await relay.cut()
        down: Any = await client.post(
            "/v1/complaints", json=complaint(), headers={**auth("agent"), "Idempotency-Key": "k-1"}
        )
        assert down.status_code == 503, down.text
        assert down.headers["content-type"].startswith("application/problem+json")
        assert down.headers["retry-after"] == "5"
        assert (await client.get("/readyz")).status_code == 503
        await relay.start()

        async def recovered() -> Any:
            r = await client.post(
                "/v1/complaints",
                json=complaint(),
                headers={**auth("agent"), "Idempotency-Key": "k-1"},
            )
            return r if r.status_code == 201 else None

        deadline = asyncio.get_running_loop().time() + 20
        again = None
        while again is None and asyncio.get_running_loop().time() < deadline:
            again = await recovered()
            await asyncio.sleep(0.2)
        assert again is not None, "the service did not recover"
        listing = await client.get("/v1/complaints", headers=auth("agent"))
        assert len(listing.json()["items"]) == 2  # the failed attempt left nothing behind
        assert (await client.get("/readyz")).status_code == 200
