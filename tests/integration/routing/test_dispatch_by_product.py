"""Dispatch by product as data (services/routing/dispatch.json): a bill naming an SP's
product goes to the value-added business (seed 002), the rest by the category matrix; an
operator's own table replaces the default without code."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.routing.app import create_app
from services.routing.handlers import Routing
from services.routing.settings import RoutingSettings
from shared.broker import Broker
from shared.service import Runtime
from tests.builders import auth, classified, running, settings_for
from tests.conftest import DbTarget

OPS = auth("ops", sub="ops-1")
Service = tuple[httpx.AsyncClient, Runtime]


def _settings(db_target: DbTarget, broker: Broker, **kw: Any) -> RoutingSettings:
    return settings_for(  # type: ignore[no-any-return]
        RoutingSettings, db_target, broker.bootstrap, consumers_enabled=False, **kw
    )


@pytest.fixture
async def routing(db_target: DbTarget, broker: Broker) -> AsyncIterator[Service]:
    async with running(create_app(_settings(db_target, broker))) as pair:
        yield pair


async def _dispatch(rt: Runtime, ticket_no: str, category: str, product: str | None) -> None:
    async with rt.db.uow() as uow:
        await Routing(rt.settings).on_ticket_classified(  # type: ignore[arg-type]
            classified(ticket_no, category, product=product), uow
        )
        await uow.commit()


async def _handler(client: httpx.AsyncClient, ticket_no: str) -> tuple[str, str]:
    a = (await client.get(f"/v1/assignments/{ticket_no}", headers=OPS)).json()
    return a["handler_department"], a["history"][0]["reason"]


async def test_a_bill_naming_an_sp_product_goes_to_the_value_added_business(
    routing: Service,
) -> None:
    client, rt = routing
    cases = [
        ("TP-1", "billing", "migu_video", ("value_added", "product:migu_video")),
        ("TP-2", "billing", None, ("billing_support", "matrix:billing")),
        ("TP-3", "tariff", "monternet", ("value_added", "product:monternet")),
        # a stalling 咪咕 video is a network complaint: the rule is for charges only
        ("TP-4", "network", "migu_video", ("network_maintenance", "matrix:network")),
        ("TP-5", "billing", "broadband", ("billing_support", "matrix:billing")),
    ]
    for ticket_no, category, product, _ in cases:
        await _dispatch(rt, ticket_no, category, product)
    for ticket_no, _, _, expected in cases:
        assert await _handler(client, ticket_no) == expected, ticket_no
    rules = (await client.get("/v1/responsibility/products", headers=OPS)).json()
    assert [r["department_code"] for r in rules] == ["value_added"]
    assert "migu_video" in rules[0]["products"] and "seed 002" in rules[0]["source"]


async def test_an_operators_own_dispatch_table_replaces_the_default(
    db_target: DbTarget, broker: Broker, tmp_path: Path
) -> None:
    table = {
        "categories": {"billing": "billing_support"},
        "fallback": "service_management",
        "products": [
            {
                "products": ["broadband"],
                "categories": ["billing", "business"],
                "department": "network_maintenance",
                "source": "本省: 宽带投诉归网络维护",
            }
        ],
    }
    path = tmp_path / "dispatch.json"
    path.write_text(json.dumps(table, ensure_ascii=False), encoding="utf-8")
    settings = _settings(db_target, broker, dispatch_path=path)
    async with running(create_app(settings)) as (client, rt):
        await _dispatch(rt, "TO-1", "billing", "broadband")
        await _dispatch(rt, "TO-2", "billing", "migu_video")
        assert await _handler(client, "TO-1") == ("network_maintenance", "product:broadband")
        assert await _handler(client, "TO-2") == ("billing_support", "matrix:billing")
