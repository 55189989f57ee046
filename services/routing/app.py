"""Routing app factory, with its timers (progress notices, the temporary-plan clock)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute

from services.routing import surge_api
from services.routing.api import router
from services.routing.consumer import make_handlers
from services.routing.handlers import Routing
from services.routing.models import Assignment, platform
from services.routing.settings import RoutingSettings
from services.routing.surge_worker import SurgeWorker
from shared.db import UnitOfWork, utcnow
from shared.scheduler import every
from shared.service import Runtime, create_service_app

BATCH = 100
Fire = Callable[[Routing, UnitOfWork, Assignment, datetime], Coroutine[Any, Any, bool]]


def _timer(
    column: InstrumentedAttribute[datetime | None], fire: Fire
) -> Callable[[Runtime], Coroutine[Any, Any, int]]:
    """Fire what is due by `column` (indexed), each row in its own compare-and-set txn."""

    async def tick(rt: Runtime) -> int:
        routing = Routing(rt.settings)  # type: ignore[arg-type]
        now = utcnow()
        async with rt.db.sessions() as session:
            due = list(
                (
                    await session.scalars(
                        select(Assignment.ticket_no)
                        .where(column <= now, Assignment.closed.is_(False))
                        .order_by(column)
                        .limit(BATCH)
                    )
                ).all()
            )
        fired = 0
        for ticket_no in due:
            async with rt.db.uow() as uow:
                a = await uow.session.get(Assignment, ticket_no)
                if a is not None and await fire(routing, uow, a, now):
                    await uow.commit()
                    fired += 1
        return fired

    return tick


async def _start_timers(rt: Runtime) -> None:
    settings: RoutingSettings = rt.settings  # type: ignore[assignment]
    if settings.surge_enabled:
        worker = SurgeWorker(settings.surge_config(), lease_s=settings.surge_lease_s)

        async def surges(rt: Runtime) -> int:
            return await worker.tick(rt.db)

        every(rt, "surge worker", surges, interval_s=settings.surge_interval_s)
    every(
        rt,
        "progress notices",
        _timer(Assignment.next_progress_notice_at, Routing.fire_progress_notice),
    )
    every(
        rt,
        "temporary-plan clock",
        _timer(Assignment.temporary_plan_due_at, Routing.fire_temporary_plan_missed),
    )


def create_app(settings: RoutingSettings | None = None) -> FastAPI:
    settings = settings or RoutingSettings()
    return create_service_app(
        platform=platform,
        settings=settings,
        title="Routing",
        description="Assigns each complaint to the responsible department (部门问责制, with the "
        "accepting department as owner: 首问负责制); transfers, escalation, supervision and "
        "same-content surge detection.",
        routers=[router, surge_api.router],
        handlers=make_handlers(settings),
        on_start=_start_timers,
    )
