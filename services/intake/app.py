"""Intake app factory."""

import asyncio

from fastapi import FastAPI

from services.intake import audit_api, classifier, partner_api, report_kpis, reports, tmf
from services.intake.api import router
from services.intake.closing import Closing
from services.intake.consumer import HANDLERS
from services.intake.models import platform
from services.intake.settings import IntakeSettings
from shared.db import utcnow
from shared.policy_store import policy_router
from shared.scheduler import every
from shared.service import Runtime, create_service_app


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()
    targets = policy_router(
        "/v1/reports/targets", report_kpis.store_of, readers=reports.READERS, tag="reports"
    )
    app = create_service_app(
        platform=platform,
        settings=settings,
        title="Intake",
        description="Registers complaints from every channel, classifies them and owns "
        "their lifecycle (system of record, first-contact owner).",
        routers=[
            audit_api.router,
            router,
            partner_api.router,
            tmf.router,
            targets,
            reports.router,
        ],
        handlers=HANDLERS,
        on_start=_start,
    )
    app.state.report_targets = report_kpis.targets_store(settings.report_targets)
    return app


async def _start(rt: Runtime) -> None:
    await asyncio.to_thread(classifier.warm_up)
    closing = Closing(rt.settings)  # type: ignore[arg-type]

    async def lifecycle(rt: Runtime) -> int:
        return await closing.tick(rt.db, utcnow())

    every(rt, "lifecycle timers", lifecycle)
