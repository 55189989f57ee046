"""Routing app factory, with its timers (progress notices, the temporary-plan clock)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from fastapi import FastAPI
from sqlalchemy.orm import InstrumentedAttribute

from services.routing import incidents_api, majors, staff_api, surge_api
from services.routing.api import router
from services.routing.consumer import make_handlers
from services.routing.handlers import Routing
from services.routing.models import Assignment, SurgeCluster, platform
from services.routing.settings import RoutingSettings
from services.routing.surge import text as surge_text
from services.routing.surge_worker import SurgeWorker
from shared.db import UnitOfWork
from shared.scheduler import every, row_timer
from shared.service import Runtime, create_service_app

BATCH = 100
Fire = Callable[[Routing, UnitOfWork, Assignment, datetime], Coroutine[Any, Any, bool]]


def _timer(
    rt: Runtime, name: str, column: InstrumentedAttribute[datetime | None], fire: Fire
) -> None:
    """Fire what is due by `column` (indexed), each row in its own compare-and-set txn."""
    routing = Routing(rt.settings)  # type: ignore[arg-type]

    async def fire_row(uow: UnitOfWork, ticket_no: Any, now: datetime) -> bool:
        a = await uow.session.get(Assignment, ticket_no)
        return a is not None and await fire(routing, uow, a, now)

    tick, next_due = row_timer(
        Assignment.ticket_no, column, fire_row, Assignment.closed.is_(False), batch=BATCH
    )
    every(rt, name, tick, next_due=next_due)


async def _start_timers(rt: Runtime) -> None:
    settings: RoutingSettings = rt.settings  # type: ignore[assignment]
    if settings.surge_enabled:
        # load the tokenizer's dictionary now (about a second of CPU), not on the first
        # complaint the worker observes
        await asyncio.to_thread(surge_text.tokens, "预热")
        worker = SurgeWorker(settings.surge_config(), lease_s=settings.surge_lease_s)

        async def surges(rt: Runtime) -> int:
            return await worker.tick(rt.db)

        # Woken by the commit that records a signal; otherwise often enough to keep its lease.
        idle = min(settings.scheduler_idle_s, settings.surge_lease_s / 3)
        every(rt, "surge worker", surges, interval_s=settings.surge_interval_s, idle_s=idle)

    async def fire_cluster(uow: UnitOfWork, cluster_id: Any, now: datetime) -> bool:
        return await majors.fire_cluster_plan_missed(uow, settings, cluster_id, now)

    tick, next_due = row_timer(
        SurgeCluster.id, SurgeCluster.temporary_plan_due_at, fire_cluster, batch=BATCH
    )
    every(rt, "cluster temporary-plan clock", tick, next_due=next_due)
    _timer(rt, "progress notices", Assignment.next_progress_notice_at, Routing.fire_progress_notice)
    _timer(
        rt,
        "temporary-plan clock",
        Assignment.temporary_plan_due_at,
        Routing.fire_temporary_plan_missed,
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
        routers=[router, surge_api.router, staff_api.router, incidents_api.router],
        handlers=make_handlers(settings),
        on_start=_start_timers,
    )
