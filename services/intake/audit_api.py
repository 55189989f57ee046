"""Audited access to personal data: the full-number lookup and the access-audit list."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy import select

from services.intake import access
from services.intake.api import HANDLER_ROLES
from services.intake.models import AccessAudit, Complaint
from shared.auth import Principal, require_roles
from shared.errors import PROBLEM_RESPONSES, Problem
from shared.pagination import decode_int_cursor, encode_cursor
from shared.phone import national
from shared.service import Runtime, runtime

router = APIRouter(tags=["access audit"], responses=PROBLEM_RESPONSES)
Rt = Annotated[Runtime, Depends(runtime)]
LOOKUP_ROLES = (*HANDLER_ROLES, "ops")
Lookup = Annotated[Principal, Depends(access.ticket_access("read", LOOKUP_ROLES))]
Auditor = Annotated[Principal, Depends(require_roles("leadership", "ops"))]


class MsisdnRead(BaseModel):
    ticket_no: str
    msisdn: str
    national: str


class AuditRead(BaseModel):
    id: int
    at: datetime
    actor: str
    roles: list[str]
    action: str
    ticket_nos: list[str]
    reason: str


class AuditPage(BaseModel):
    items: list[AuditRead]
    next_cursor: str | None = None


@router.get(
    "/v1/complaints/{ticket_no}/msisdn",
    response_model=MsisdnRead,
    summary="The customer's full number, for a stated reason (audited)",
)
async def lookup_msisdn(
    ticket_no: str,
    principal: Lookup,
    rt: Rt,
    reason: Annotated[str, Query(min_length=2, max_length=300)],
) -> MsisdnRead:
    """Ops and other staff who see masked numbers get the full one here, and only here: who,
    when, which ticket and why are recorded before it is returned."""
    async with rt.db.sessions() as session:
        c = await session.scalar(select(Complaint).where(Complaint.ticket_no == ticket_no))
    assert c is not None  # the dependency checked it
    if c.msisdn is None:
        raise Problem(404, "Not Found", f"{ticket_no} has no customer number")
    await access.audit_now(rt, principal, "lookup_msisdn", [ticket_no], reason)
    return MsisdnRead(ticket_no=ticket_no, msisdn=c.msisdn, national=national(c.msisdn))


@router.get(
    "/v1/access-audit", response_model=AuditPage, summary="Who saw personal data (newest first)"
)
async def list_access_audit(
    _: Auditor,
    rt: Rt,
    actor: Annotated[str | None, Query(max_length=100)] = None,
    action: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
) -> AuditPage:
    query = select(AccessAudit).order_by(AccessAudit.id.desc()).limit(limit + 1)
    if actor is not None:
        query = query.where(AccessAudit.actor == actor)
    if action is not None:
        query = query.where(AccessAudit.action == action)
    if cursor is not None:
        query = query.where(AccessAudit.id < decode_int_cursor(cursor))
    async with rt.db.sessions() as session:
        rows = list((await session.scalars(query)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(
        items=[AuditRead.model_validate(r, from_attributes=True) for r in rows],
        next_cursor=encode_cursor(rows[-1].id) if more else None,
    )
