"""Routing HTTP API: assignments, queues, transfers, escalation, supervision, directory."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select

from services.routing import access, commands
from services.routing.handlers import Routing
from services.routing.models import (
    Assignment,
    AssignmentHistory,
    Department,
    DirectoryChange,
    ResponsibilityRule,
    SupervisionEntry,
)
from services.routing.schemas import (
    CATEGORY,
    AssignmentRead,
    DepartmentRead,
    DepartmentWrite,
    DirectoryChangeRead,
    HistoryRead,
    MatrixRule,
    MatrixWrite,
    ProductRuleRead,
    QueueItem,
    ReasonBody,
    SupervisionRead,
    TextBody,
    TransferBody,
)
from services.routing.settings import RoutingSettings
from shared.auth import Principal, require_roles
from shared.errors import PROBLEM_RESPONSES, NotFound
from shared.service import Runtime, runtime
from shared.usecase import run

router = APIRouter(prefix="/v1", tags=["routing"], responses=PROBLEM_RESPONSES)
STAFF_ROLES = ("agent", "frontline", "room_manager", "centre_manager", "leadership", "ops")
Staff = Annotated[Principal, Depends(require_roles(*STAFF_ROLES))]
HANDLER_ROLES = ("agent", "frontline", "room_manager", "centre_manager", "leadership")
Mover = Annotated[Principal, Depends(access.assignment_access("act", HANDLER_ROLES))]
Reader = Annotated[Principal, Depends(access.assignment_access("read", STAFF_ROLES))]
QueueReader = Annotated[Principal, Depends(access.queue_access(STAFF_ROLES))]
Managers = Annotated[
    Principal, Depends(require_roles("room_manager", "centre_manager", "leadership", "ops"))
]
Ops = Annotated[Principal, Depends(require_roles("ops"))]
Rt = Annotated[Runtime, Depends(runtime)]


def _routing(request: Request) -> Routing:
    rt: Runtime = request.app.state.runtime
    settings: RoutingSettings = rt.settings  # type: ignore[assignment]
    return Routing(settings)


Uses = Annotated[Routing, Depends(_routing)]


async def _read(rt: Runtime, ticket_no: str) -> AssignmentRead:
    async with rt.db.sessions() as session:
        a = await session.get(Assignment, ticket_no)
        if a is None:
            raise NotFound(f"no assignment for {ticket_no}")
        history = (
            await session.scalars(
                select(AssignmentHistory)
                .where(AssignmentHistory.ticket_no == ticket_no)
                .order_by(AssignmentHistory.id)
            )
        ).all()
        ledger = (
            await session.scalars(
                select(SupervisionEntry)
                .where(SupervisionEntry.ticket_no == ticket_no)
                .order_by(SupervisionEntry.id)
            )
        ).all()
        return AssignmentRead(
            **{f: getattr(a, f) for f in AssignmentRead.model_fields if hasattr(a, f)},
            history=[HistoryRead.model_validate(h, from_attributes=True) for h in history],
            supervision=[SupervisionRead.model_validate(e, from_attributes=True) for e in ledger],
        )


@router.get(
    "/assignments/{ticket_no}",
    response_model=AssignmentRead,
    summary="Owner, handler, assignee, supervisor and the full history of a ticket",
)
async def get_assignment(ticket_no: str, _: Reader, rt: Rt) -> AssignmentRead:
    return await _read(rt, ticket_no)


@router.post(
    "/assignments/{ticket_no}/transfer",
    response_model=AssignmentRead,
    summary="Transfer to another department (the ping-pong transfer escalates)",
)
async def transfer(
    ticket_no: str, body: TransferBody, principal: Mover, rt: Rt, routing: Uses
) -> AssignmentRead:
    cmd = commands.TransferTicket(ticket_no, body.to_department, principal.sub, body.reason)
    await run(rt.db, partial(commands.transfer_ticket, routing=routing), cmd, what=ticket_no)
    return await _read(rt, ticket_no)


@router.post(
    "/assignments/{ticket_no}/claim",
    response_model=AssignmentRead,
    summary="Claim a ticket from your department's queue",
)
async def claim(ticket_no: str, principal: Mover, rt: Rt, routing: Uses) -> AssignmentRead:
    cmd = commands.ClaimTicket(ticket_no, principal.sub, principal.dept)
    await run(rt.db, commands.claim_ticket, cmd, what=ticket_no)
    return await _read(rt, ticket_no)


@router.post(
    "/assignments/{ticket_no}/escalate",
    response_model=AssignmentRead,
    summary="Escalate on demand: appoint a supervisor (督办)",
)
async def escalate(
    ticket_no: str, body: ReasonBody, principal: Mover, rt: Rt, routing: Uses
) -> AssignmentRead:
    cmd = commands.EscalateTicket(ticket_no, principal.sub, body.reason)
    await run(rt.db, partial(commands.escalate_ticket, routing=routing), cmd, what=ticket_no)
    return await _read(rt, ticket_no)


@router.post(
    "/assignments/{ticket_no}/supervision",
    status_code=201,
    response_model=AssignmentRead,
    summary="Add a progress entry to the supervision ledger",
)
async def supervision_entry(
    ticket_no: str, body: TextBody, principal: Reader, rt: Rt
) -> AssignmentRead:
    cmd = commands.AddSupervisionEntry(ticket_no, principal.sub, body.text)
    await run(rt.db, commands.add_supervision_entry, cmd, what=ticket_no)
    return await _read(rt, ticket_no)


@router.post(
    "/assignments/{ticket_no}/temporary-plan",
    response_model=AssignmentRead,
    summary="Record the temporary plan a defect-caused major complaint owes within 1 hour",
)
async def temporary_plan(
    ticket_no: str, body: TextBody, principal: Mover, rt: Rt, routing: Uses
) -> AssignmentRead:
    cmd = commands.RecordTemporaryPlan(ticket_no, principal.sub, body.text)
    await run(rt.db, commands.record_temporary_plan, cmd, what=ticket_no)
    return await _read(rt, ticket_no)


@router.get(
    "/queues/{department}",
    response_model=list[QueueItem],
    summary="A department's open tickets: most urgent first, then oldest",
)
async def queue(
    department: str,
    principal: QueueReader,
    rt: Rt,
    unclaimed: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[QueueItem]:
    del principal
    query = (
        select(Assignment)
        .where(Assignment.handler_department == department, Assignment.closed.is_(False))
        .order_by(Assignment.priority, Assignment.received_at)
        .limit(limit)
    )
    if unclaimed:
        query = query.where(Assignment.assignee.is_(None))
    async with rt.db.sessions() as session:
        if await session.get(Department, department) is None:
            raise NotFound(f"no department {department}")
        rows = (await session.scalars(query)).all()
    return [QueueItem.model_validate(a, from_attributes=True) for a in rows]


@router.get("/departments", response_model=list[DepartmentRead], summary="Department directory")
async def list_departments(_: Staff, rt: Rt) -> list[DepartmentRead]:
    async with rt.db.sessions() as session:
        rows = (await session.scalars(select(Department).order_by(Department.code))).all()
    return [DepartmentRead.model_validate(d, from_attributes=True) for d in rows]


@router.put(
    "/departments/{code}",
    response_model=DepartmentRead,
    summary="Create or change a department (ops; audited)",
)
async def put_department(
    code: str, body: DepartmentWrite, principal: Ops, rt: Rt
) -> DepartmentRead:
    cmd = commands.PutDepartment(code, **body.model_dump(), actor=principal.sub)
    d = await run(rt.db, commands.put_department, cmd, what=f"department {code}")
    return DepartmentRead.model_validate(d, from_attributes=True)


@router.get(
    "/responsibility/matrix",
    response_model=list[MatrixRule],
    summary="Responsibility matrix: category → department",
)
async def get_matrix(_: Staff, rt: Rt) -> list[MatrixRule]:
    async with rt.db.sessions() as session:
        rows = (
            await session.scalars(select(ResponsibilityRule).order_by(ResponsibilityRule.category))
        ).all()
    return [MatrixRule.model_validate(r, from_attributes=True) for r in rows]


@router.get(
    "/responsibility/products",
    response_model=list[ProductRuleRead],
    summary="Dispatch by product, tried before the matrix (dispatch.json, ROUTING_DISPATCH_PATH)",
)
async def get_product_rules(_: Staff, routing: Uses) -> list[ProductRuleRead]:
    return [
        ProductRuleRead(
            products=sorted(r.products),
            categories=sorted(r.categories),
            department_code=r.department,
            source=r.source,
        )
        for r in routing.dispatch.products
    ]


@router.put(
    "/responsibility/matrix/{category}",
    response_model=MatrixRule,
    summary="Make a department responsible for a category (ops; audited)",
)
async def put_matrix(category: CATEGORY, body: MatrixWrite, principal: Ops, rt: Rt) -> MatrixRule:
    cmd = commands.PutResponsibility(category, body.department_code, principal.sub)
    await run(rt.db, commands.put_responsibility, cmd, what=f"the {category} rule")
    return MatrixRule(category=category, department_code=body.department_code)


@router.get(
    "/responsibility/audit",
    response_model=list[DirectoryChangeRead],
    summary="Every change to the directory and the matrix",
)
async def directory_audit(_: Managers, rt: Rt) -> list[DirectoryChangeRead]:
    async with rt.db.sessions() as session:
        rows = (await session.scalars(select(DirectoryChange).order_by(DirectoryChange.id))).all()
    return [DirectoryChangeRead.model_validate(r, from_attributes=True) for r in rows]
