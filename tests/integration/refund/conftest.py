"""A refund service on a real database and broker, driven in-process over HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from services.refund import handlers
from services.refund.app import create_app
from services.refund.models import platform
from services.refund.settings import RefundSettings
from shared.broker import Broker
from shared.events import TicketReceived, TicketStatusChanged
from shared.service import Runtime
from tests.builders import auth, running, settings_for
from tests.conftest import DbTarget

Outbox = platform.models.outbox
Service = tuple[httpx.AsyncClient, Runtime]


def refund_settings(db_target: DbTarget, broker: Broker, **kw: Any) -> RefundSettings:
    kw.setdefault("consumers_enabled", False)
    kw.setdefault("relay_enabled", False)
    kw.setdefault("scheduler_interval_s", 0.1)
    kw.setdefault("access_partner_sp_codes", {"sp-901234": ["SP901234"], "sp-777": ["SP777"]})
    settings: RefundSettings = settings_for(RefundSettings, db_target, broker.bootstrap, **kw)
    return settings


@pytest.fixture
async def refund(db_target: DbTarget, broker: Broker) -> AsyncIterator[Service]:
    async with running(create_app(refund_settings(db_target, broker))) as pair:
        yield pair


def staff(role: str = "agent", sub: str | None = None) -> dict[str, str]:
    """A bearer header for one member of staff (sub defaults to one per role)."""
    return auth(role, sub=sub or f"{role}-1")


def ticket_received(ticket_no: str, user_type: str | None = "prepaid") -> TicketReceived:
    return TicketReceived(
        ticket_no=ticket_no,
        channel="hotline",
        msisdn="+8613800138000",
        msisdn_masked="138****8000",
        user_type=user_type,
        description="梦网业务未经同意扣费",
        accepting_department="frontdesk_10086",
        received_at=datetime.now(UTC),
    )


def status_changed(ticket_no: str, to_status: str) -> TicketStatusChanged:
    return TicketStatusChanged(
        ticket_no=ticket_no,
        from_status="in_progress",
        to_status=to_status,
        actor="agent-1",
        changed_at=datetime.now(UTC),
    )


async def seed_ticket(rt: Runtime, ticket_no: str, user_type: str | None = "prepaid") -> None:
    """Project a complaint as if intake's TicketReceived had been consumed."""
    async with rt.db.uow() as uow:
        await handlers.on_ticket_received(ticket_received(ticket_no, user_type), uow)
        await uow.commit()


async def ask(
    client: httpx.AsyncClient,
    ticket_no: str,
    amount: str,
    role: str = "frontline",
    *,
    sub: str | None = None,
    kind: str = "refund",
    charge_type: str | None = "monternet",
    **headers: str,
) -> httpx.Response:
    body = {"ticket_no": ticket_no, "amount": amount, "kind": kind, "reason": "扣费有误"}
    if charge_type is not None:
        body["charge_type"] = charge_type
    return await client.post("/v1/refunds", json=body, headers={**staff(role, sub), **headers})


async def published(rt: Runtime, type_name: str, ticket_no: str | None = None) -> list[Any]:
    """Events the service staged in its outbox, oldest first."""
    query = select(Outbox).where(Outbox.event_type == type_name).order_by(Outbox.id)
    if ticket_no is not None:
        query = query.where(Outbox.key == ticket_no)
    async with rt.db.sessions() as session:
        return [json.loads(r.value) for r in (await session.scalars(query)).all()]
