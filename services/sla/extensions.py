"""Extensions (延期, seed 003 §4.1): a major complaint's resolution limit may be extended,
with the reason told to the customer. Audited (who, when, why, old and new deadline),
within the policy's maximum; `SlaDeadlineExtended` makes notify send the customer one SMS."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Header, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from services.sla.api import Rt, Staff, Uses, get_ticket_clocks
from services.sla.commands import ExtendClock, extend_clock
from services.sla.models import ClockExtension
from services.sla.policy import ClockName
from services.sla.schemas import TicketClocks
from shared.errors import PROBLEM_RESPONSES
from shared.usecase import IdempotencyKey, run_create

router = APIRouter(prefix="/v1/sla", tags=["sla"], responses=PROBLEM_RESPONSES)


class ExtensionCreate(BaseModel):
    clock: ClockName = "resolution"
    working_days: int = Field(ge=1, le=250, description="Added to the clock's limit")
    reason: str = Field(
        min_length=2, max_length=200, description="Told to the customer by SMS, in Chinese"
    )


@router.post(
    "/tickets/{ticket_no}/extensions",
    status_code=201,
    response_model=TicketClocks,
    summary="Extend a major complaint's resolution limit (延期; audited; the customer is told)",
)
async def create_extension(
    ticket_no: str,
    body: ExtensionCreate,
    principal: Staff,
    rt: Rt,
    sla: Uses,
    response: Response,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> TicketClocks:
    """Within the policy's maximum (`extension.max_working_days` in all), for the severities
    it names (major by default), by the roles it names. A retry with the same
    `Idempotency-Key` and body changes nothing more."""
    cmd = ExtendClock(ticket_no, body.clock, body.working_days, body.reason, principal)
    created = await run_create(
        rt.idempotent,
        partial(extend_clock, sla=sla),
        cmd,
        idempotency=IdempotencyKey(
            f"sla-extensions:{principal.sub}:{ticket_no}",
            idempotency_key,
            body.model_dump(mode="json"),
        ),
        resource_id=lambda row: str(row.id),
    )
    if created.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return await get_ticket_clocks(ticket_no, principal, rt, sla)


class ExtensionRead(BaseModel):
    id: int
    clock: str
    working_days: int
    reason: str
    extended_by: str
    extended_at: datetime
    old_due_at: datetime
    new_due_at: datetime


@router.get(
    "/tickets/{ticket_no}/extensions",
    response_model=list[ExtensionRead],
    summary="A ticket's extensions (audit)",
)
async def list_extensions(ticket_no: str, _: Staff, rt: Rt) -> list[ExtensionRead]:
    async with rt.db.sessions() as s:
        rows = (
            await s.scalars(
                select(ClockExtension)
                .where(ClockExtension.ticket_no == ticket_no)
                .order_by(ClockExtension.id)
            )
        ).all()
    return [ExtensionRead.model_validate(r, from_attributes=True) for r in rows]
