"""SLA app factory: clocks from ticket events, the calendar, and the deadline scheduler."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import func, select

from services.sla import calendar_store, domain
from services.sla.api import calendar_router, router
from services.sla.calendar_store import CalendarCache
from services.sla.consumer import make_handlers
from services.sla.extensions import router as extension_router
from services.sla.handlers import Sla
from services.sla.metrics import set_sla_clocks
from services.sla.models import Clock, platform
from services.sla.settings import SlaSettings
from shared.db import utcnow
from shared.policy_store import policy_router
from shared.scheduler import earliest, every
from shared.service import Runtime, create_service_app

DESCRIPTION = "Runs the complaint clocks on the Chinese working-day calendar.\n\n" + (
    domain.__doc__ or ""
).replace("Glue between a stored clock row and the pure clock math (`clock.py`). No I/O.\n\n", "")


async def clock_gauges(rt: Runtime) -> None:
    """SLA clocks running and breached (index-only counts on `ix_clock_state_due`)."""
    async with rt.db.sessions() as session:
        rows = (
            await session.execute(
                select(Clock.state, func.count())
                .where(Clock.state.in_(("running", "breached")))
                .group_by(Clock.state)
            )
        ).all()
    counts = {state: int(n) for state, n in rows}
    set_sla_clocks(running=counts.get("running", 0), breached=counts.get("breached", 0))


def create_app(settings: SlaSettings | None = None) -> FastAPI:
    settings = settings or SlaSettings()
    sla = Sla(settings, CalendarCache())

    async def tick(rt: Runtime) -> int:
        return await sla.tick(rt.db, utcnow())

    async def start(rt: Runtime) -> None:
        await calendar_store.seed(rt.db)
        every(rt, "deadline scheduler", tick, next_due=earliest(Clock.next_fire_at))

    policy_routes = policy_router(
        "/v1/sla/policy",
        lambda request: request.app.state.sla.policies,
        readers=("agent", "frontline", "room_manager", "centre_manager", "leadership", "ops"),
        tag="sla",
    )
    app = create_service_app(
        platform=platform,
        settings=settings,
        title="SLA",
        description=DESCRIPTION,
        routers=[router, extension_router, policy_routes, calendar_router],
        handlers=make_handlers(sla),
        on_start=start,
        gauges=clock_gauges,
    )
    app.state.sla = sla
    return app
