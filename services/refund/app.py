"""Refund app factory: the API, the ticket projection, and the refund timers."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import func, select

from services.refund.api import router
from services.refund.consumer import HANDLERS
from services.refund.dispute_api import router as dispute_router
from services.refund.domain import RefundStatus
from services.refund.metrics import set_refunds_pending
from services.refund.models import Refund, platform
from services.refund.settings import RefundSettings
from services.refund.timers import start_timers
from shared.service import Runtime, create_service_app

DESCRIPTION = (
    "Refund requests decided by per-complaint authority limits (seed 004 §2.5: 100 / 500 / "
    "2000 CNY, the limit applying to the complaint's total), four-eyes approval, payouts, "
    "SP charge disputes with a proof window and automatic provisional refunds, and a "
    "hash-chained audit of every decision."
)


async def pending_gauge(rt: Runtime) -> None:
    """Refund requests awaiting an approver."""
    async with rt.db.sessions() as session:
        pending = await session.scalar(
            select(func.count())
            .select_from(Refund)
            .where(Refund.status == RefundStatus.PENDING_APPROVAL)
        )
    set_refunds_pending(int(pending or 0))


def create_app(settings: RefundSettings | None = None) -> FastAPI:
    settings = settings or RefundSettings()
    rules = settings.rules()

    async def start(rt: Runtime) -> None:
        start_timers(rt, rules)

    app = create_service_app(
        platform=platform,
        settings=settings,
        title="Refund",
        description=DESCRIPTION,
        routers=[router, dispute_router],
        handlers=HANDLERS,
        on_start=start,
        gauges=pending_gauge,
    )
    app.state.refund_rules = rules
    return app
