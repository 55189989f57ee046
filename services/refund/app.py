"""Refund app factory: the API, the ticket projection, and the refund timers."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import func, select

from services.refund.api import router
from services.refund.consumer import HANDLERS
from services.refund.deps import READERS
from services.refund.dispute_api import router as dispute_router
from services.refund.domain import RefundStatus
from services.refund.metrics import set_refunds_pending
from services.refund.models import Refund, platform
from services.refund.settings import RefundSettings
from services.refund.timers import start_timers
from shared.policy_store import policy_router
from shared.service import Runtime, create_service_app

DESCRIPTION = (
    "Refund requests decided by authority limits (seed 004 §2.5: 100 / 500 / 2000 CNY per "
    "refund on each ticket, 每次每单, with an anti-splitting guard; the front line only for "
    "prepaid customers' 梦网 and missed-promotion charges), four-eyes approval, payouts, SP "
    "charge disputes with a proof window and automatic provisional refunds, and a "
    "hash-chained audit of every decision. The authority policy changes at run time with "
    "the audited PUT /v1/refunds/policy and applies to complaints received afterwards."
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

    policy_routes = policy_router(
        "/v1/refunds/policy",
        lambda request: request.app.state.refund_rules.policies,
        readers=READERS,
        tag="refunds",
    )
    app = create_service_app(
        platform=platform,
        settings=settings,
        title="Refund",
        description=DESCRIPTION,
        routers=[policy_routes, router, dispute_router],
        handlers=HANDLERS,
        on_start=start,
        gauges=pending_gauge,
    )
    app.state.refund_rules = rules
    return app
