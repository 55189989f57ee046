"""Routing's commands: `async def verb_noun(cmd, uow[, routing]) -> result`.

Each stages its writes and events in `uow` and raises domain exceptions (`shared.errors`);
none commits or speaks HTTP. Routes bind the service's policy (`routing`, a `Routing`) with
`functools.partial` and run them with `shared.usecase.run`, which commits once and maps the
exceptions to problem+json. Consumed events and timers are in `handlers.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.routing.handlers import Routing, assigned, department, load, record_history
from services.routing.models import (
    Assignment,
    Department,
    DirectoryChange,
    ResponsibilityRule,
    SupervisionEntry,
)
from shared.db import UnitOfWork, utcnow
from shared.errors import Conflict, Invalid, NotAllowed
from shared.events import TicketTransferred


def _open(a: Assignment) -> Assignment:
    if a.closed:
        raise Conflict(title="Ticket is closed", detail=f"{a.ticket_no} is {a.status}")
    return a


# --- assignments -------------------------------------------------------------------------
@dataclass(frozen=True)
class EscalateTicket:
    """Escalate on demand (督办): appoint a supervisor and open the ledger entry."""

    ticket_no: str
    actor: str
    reason: str


async def escalate_ticket(cmd: EscalateTicket, uow: UnitOfWork, routing: Routing) -> str:
    a = _open(await load(uow, cmd.ticket_no))
    return await routing.escalate(uow, a, "on_demand", f"{cmd.actor}: {cmd.reason}", utcnow())


@dataclass(frozen=True)
class TransferTicket:
    """Hand a ticket to another department; the ping-pong transfer escalates."""

    ticket_no: str
    to_department: str
    actor: str
    reason: str


async def transfer_ticket(cmd: TransferTicket, uow: UnitOfWork, routing: Routing) -> Assignment:
    a = _open(await load(uow, cmd.ticket_no))
    await department(uow, cmd.to_department)
    if cmd.to_department == a.handler_department:
        raise Conflict(
            title="Already there",
            detail=f"{cmd.ticket_no} is already handled by {cmd.to_department}",
        )
    now = utcnow()
    before = a.handler_department
    a.handler_department = cmd.to_department
    a.assignee = None
    a.transfer_count += 1
    record_history(uow, a, "transfer", cmd.to_department, cmd.actor, cmd.reason, now, before)
    uow.publish(
        TicketTransferred(
            ticket_no=cmd.ticket_no,
            from_department=before,
            to_department=cmd.to_department,
            actor=cmd.actor,
            reason=cmd.reason,
            transfer_count=a.transfer_count,
            transferred_at=now,
        )
    )
    if a.transfer_count == routing.policy.ping_pong_transfers:
        await routing.escalate(uow, a, "ping_pong", f"transferred {a.transfer_count} times", now)
    return a


@dataclass(frozen=True)
class ClaimTicket:
    """An agent takes a ticket from their department's queue."""

    ticket_no: str
    agent: str
    department: str | None


async def claim_ticket(cmd: ClaimTicket, uow: UnitOfWork) -> Assignment:
    a = _open(await load(uow, cmd.ticket_no))
    if cmd.department != a.handler_department:  # no department, no queue to claim from
        raise NotAllowed(
            title="Forbidden",
            detail=f"{cmd.ticket_no} is in {a.handler_department}'s queue, not {cmd.department}'s",
        )
    if a.assignee is not None:
        raise Conflict(
            title="Already claimed", detail=f"{cmd.ticket_no} is claimed by {a.assignee}"
        )
    now = utcnow()
    a.assignee = cmd.agent
    record_history(uow, a, "claim", a.handler_department, cmd.agent, "claimed from queue", now)
    uow.publish(assigned(a, "claimed", now))
    return a


@dataclass(frozen=True)
class RecordTemporaryPlan:
    """The temporary plan a defect-caused major complaint owes within the hour."""

    ticket_no: str
    author: str
    plan: str


async def record_temporary_plan(cmd: RecordTemporaryPlan, uow: UnitOfWork) -> Assignment:
    a = await load(uow, cmd.ticket_no)
    a.temporary_plan = cmd.plan
    a.temporary_plan_due_at = None
    uow.session.add(
        SupervisionEntry(
            ticket_no=cmd.ticket_no, kind="temporary_plan", author=cmd.author, text=cmd.plan
        )
    )
    return a


@dataclass(frozen=True)
class AddSupervisionEntry:
    """A progress entry in the supervision ledger (督办台账)."""

    ticket_no: str
    author: str
    text: str


async def add_supervision_entry(cmd: AddSupervisionEntry, uow: UnitOfWork) -> None:
    await load(uow, cmd.ticket_no)
    uow.session.add(
        SupervisionEntry(ticket_no=cmd.ticket_no, kind="progress", author=cmd.author, text=cmd.text)
    )


# --- directory ---------------------------------------------------------------------------
@dataclass(frozen=True)
class PutDepartment:
    """Create or change a department (audited in the directory log)."""

    code: str
    name: str
    kind: str
    manager: str
    actor: str


def _department_fields(d: Department | None) -> dict[str, object] | None:
    return None if d is None else {"name": d.name, "kind": d.kind, "manager": d.manager}


async def put_department(cmd: PutDepartment, uow: UnitOfWork) -> Department:
    code = cmd.code
    if not code.isascii() or not code.replace("_", "").isalnum() or len(code) > 64:
        raise Invalid("code", "letters, digits and underscores, at most 64")
    fields = {"name": cmd.name, "kind": cmd.kind, "manager": cmd.manager}
    d = await uow.session.get(Department, code)
    before = _department_fields(d)
    if d is None:
        d = Department(code=code, **fields)
        uow.session.add(d)
    else:
        for k, v in fields.items():
            setattr(d, k, v)
    uow.session.add(
        DirectoryChange(
            entity="department",
            key=code,
            actor=cmd.actor,
            before=before,
            after=_department_fields(d),
        )
    )
    return d


@dataclass(frozen=True)
class PutResponsibility:
    """Make a department responsible for a category (the matrix; audited)."""

    category: str
    department_code: str
    actor: str


async def put_responsibility(cmd: PutResponsibility, uow: UnitOfWork) -> None:
    if await uow.session.get(Department, cmd.department_code) is None:
        raise Invalid("department_code", f"no department {cmd.department_code}")
    rule = await uow.session.get(ResponsibilityRule, cmd.category)
    before = None if rule is None else {"department_code": rule.department_code}
    if rule is None:
        rule = ResponsibilityRule(category=cmd.category, department_code=cmd.department_code)
        uow.session.add(rule)
    else:
        rule.department_code = cmd.department_code
    uow.session.add(
        DirectoryChange(
            entity="matrix",
            key=cmd.category,
            actor=cmd.actor,
            before=before,
            after={"department_code": cmd.department_code},
        )
    )
