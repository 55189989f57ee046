"""Extensions (延期, seed 003 §4.1): a major complaint's resolution limit may be extended,
with the reason told to the customer. Audited (who, when, why, old and new deadline),
within the policy's maximum; `SlaDeadlineExtended` makes notify send the customer one SMS."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Response
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from services.sla import domain
from services.sla.api import Rt, Staff, Uses, get_ticket_clocks
from services.sla.handlers import Sla, published_clock
from services.sla.models import Clock, ClockExtension
from services.sla.policy import ClockName, ExtensionRefused, check_extension
from services.sla.schemas import TicketClocks
from shared.auth import Principal
from shared.db import UnitOfWork, utcnow
from shared.errors import PROBLEM_RESPONSES, Problem, field_error
from shared.events import SlaDeadlineExtended, SlaDeadlinesChanged
from shared.idempotency import Created, request_fingerprint

router = APIRouter(prefix="/v1/sla", tags=["sla"], responses=PROBLEM_RESPONSES)


class ExtensionCreate(BaseModel):
    clock: ClockName = "resolution"
    working_days: int = Field(ge=1, le=250, description="Added to the clock's limit")
    reason: str = Field(
        min_length=2, max_length=200, description="Told to the customer by SMS, in Chinese"
    )


@dataclass(frozen=True)
class ExtendClock:
    ticket_no: str
    clock: str
    working_days: int
    reason: str
    actor: Principal


async def extend_clock(cmd: ExtendClock, uow: UnitOfWork, sla: Sla) -> ClockExtension:
    """Add working days to an open clock if the policy of the ticket's receipt allows it."""
    clock = await uow.session.scalar(
        select(Clock)
        .where(Clock.ticket_no == cmd.ticket_no, Clock.name == cmd.clock)
        .with_for_update()
    )
    if clock is None:
        raise Problem(404, "Not Found", f"no {cmd.clock} clock for {cmd.ticket_no}")
    if not clock.open:
        raise Problem(409, "Clock stopped", f"the {cmd.clock} clock is {clock.state}")
    policy = await sla.policy(uow, clock.started_at)
    if not cmd.actor.has_any(*policy.extension.roles):
        roles = ", ".join(sorted(policy.extension.roles))
        raise Problem(403, "Forbidden", f"extending needs one of the roles: {roles}")
    already = await uow.session.scalar(
        select(func.coalesce(func.sum(ClockExtension.working_days), 0)).where(
            ClockExtension.ticket_no == cmd.ticket_no, ClockExtension.clock == cmd.clock
        )
    )
    try:
        check_extension(
            policy,
            clock=cmd.clock,
            severity=clock.severity,
            already=int(already or 0),
            working_days=cmd.working_days,
        )
    except ExtensionRefused as exc:
        raise field_error(exc.field, exc.message) from exc
    if clock.limit_unit != "working_days":
        raise field_error("clock", "only working-day limits can be extended")
    now = utcnow()
    calendar = await sla.calendar(uow)
    old_due = clock.due_at
    clock.limit_amount += cmd.working_days
    domain.refresh(clock, calendar, now, sla.rule)
    row = ClockExtension(
        ticket_no=cmd.ticket_no,
        clock=cmd.clock,
        working_days=cmd.working_days,
        reason=cmd.reason,
        extended_by=cmd.actor.sub,
        extended_at=now,
        old_due_at=old_due,
        new_due_at=clock.due_at,
    )
    uow.session.add(row)
    await uow.session.flush()
    uow.publish(
        SlaDeadlineExtended(
            ticket_no=cmd.ticket_no,
            clock=cmd.clock,
            old_due_at=old_due,
            new_due_at=clock.due_at,
            provisional=clock.provisional,
            working_days=cmd.working_days,
            reason=cmd.reason,
            extended_by=cmd.actor.sub,
            extended_at=now,
        )
    )
    clocks = await sla._clocks(uow, cmd.ticket_no)
    uow.publish(
        SlaDeadlinesChanged(
            ticket_no=cmd.ticket_no,
            clocks=[published_clock(c) for c in clocks],
            reason=f"extension:{cmd.clock}",
        )
    )
    return row


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

    async def create(uow: UnitOfWork) -> Created:
        row = await extend_clock(cmd, uow, sla)
        return Created(str(row.id), replayed=False)

    created = await rt.idempotent.run(
        scope=f"sla-extensions:{principal.sub}:{ticket_no}",
        key=idempotency_key,
        fingerprint=request_fingerprint(body.model_dump(mode="json")),
        create=create,
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
