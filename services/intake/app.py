"""Intake app factory."""

import asyncio

from fastapi import FastAPI

from services.intake import audit_api, classifier, partner_api, reports, tmf
from services.intake.api import router
from services.intake.closing import Closing
from services.intake.consumer import HANDLERS
from services.intake.models import platform
from services.intake.settings import IntakeSettings
from shared.db import utcnow
from shared.scheduler import every
from shared.service import Runtime, create_service_app


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    return create_service_app(
        platform=platform,
        settings=settings or IntakeSettings(),
        title="Intake",
        description="Registers complaints from every channel, classifies them and owns "
        "their lifecycle (system of record, first-contact owner).",
        routers=[audit_api.router, router, partner_api.router, tmf.router, reports.router],
        handlers=HANDLERS,
        on_start=_start,
    )


async def _start(rt: Runtime) -> None:
    await asyncio.to_thread(classifier.warm_up)
    closing = Closing(rt.settings)  # type: ignore[arg-type]

    async def lifecycle(rt: Runtime) -> int:
        return await closing.tick(rt.db, utcnow())

    every(rt, "lifecycle timers", lifecycle)
