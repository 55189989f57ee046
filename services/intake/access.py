"""Intake's access policy, one place: who may read a complaint, see its full number, add a note,
run its lifecycle. The rules are `domain.AccessRules`; this module feeds them the caller's and
the ticket's facts, turns scopes into SQL for lists and into 404/403 for single tickets, and
records the audited reads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from fastapi import Depends, Request
from sqlalchemy import ColumnElement, select

from services.intake import domain
from services.intake.models import AccessAudit, Complaint
from shared.access import Scope, TicketFacts, department_with_units, forbidden, not_found
from shared.auth import Principal, require_roles
from shared.db import UnitOfWork
from shared.service import Runtime
from shared.settings import ServiceSettings

RULES = domain.AccessRules()
Purpose = Literal["read", "note", "act"]


def partner_id(principal: Principal) -> str:
    """A partner's identity: the token's `partner_id` claim, else its subject."""
    return str(principal.claims.get("partner_id") or principal.sub)


def caller(principal: Principal, settings: ServiceSettings) -> domain.Caller:
    """The facts the rules use, from the token and the configured directory."""
    partner_orgs: frozenset[str] = frozenset()
    sp_codes: frozenset[str] = frozenset()
    if principal.roles & RULES.partner_roles:
        pid = partner_id(principal)
        partner_orgs = frozenset({pid, *settings.access_partner_orgs.get(pid, [])})
        claimed = principal.claims.get("sp_codes") or []
        sp_codes = frozenset(
            {*settings.access_partner_sp_codes.get(pid, []), *[str(c) for c in claimed]}
        )
    return domain.Caller(
        roles=principal.roles,
        dept=principal.dept,
        department_units=department_with_units(principal.dept, settings.access_sub_units),
        partner_orgs=partner_orgs,
        sp_codes=sp_codes,
    )


def facts(c: Complaint) -> TicketFacts:
    departments = {c.accepting_department, c.owner_department, c.handler_department}
    return TicketFacts(
        departments=frozenset(d for d in departments if d),
        source_org=c.source_org,
        sp_code=c.sp_code,
    )


def scope(principal: Principal, settings: ServiceSettings, purpose: Purpose) -> Scope:
    who = caller(principal, settings)
    if purpose == "act":
        return domain.act_scope(who, RULES)
    return domain.read_scope(who, RULES)


def list_filter(principal: Principal, settings: ServiceSettings) -> ColumnElement[bool]:
    """The WHERE clause that keeps a list to what `principal` may read."""
    return scope(principal, settings, "read").where(
        departments=(
            Complaint.accepting_department,
            Complaint.owner_department,
            Complaint.handler_department,
        ),
        source_org=Complaint.source_org,
        sp_code=Complaint.sp_code,
    )


def sees_full_msisdn(principal: Principal, settings: ServiceSettings) -> bool:
    return domain.sees_full_msisdn(caller(principal, settings), RULES)


def check(
    c: Complaint | None, ticket_no: str, principal: Principal, rt: Runtime, purpose: Purpose
) -> Complaint:
    """The complaint if `principal` may use it for `purpose`: 404 outside the read scope (its
    existence is not confirmed), 403 when readable but not for this purpose."""
    settings = rt.settings
    if c is None or not scope(principal, settings, "read").admits(facts(c)):
        raise not_found("complaint", ticket_no)
    if purpose == "act" and not scope(principal, settings, "act").admits(facts(c)):
        raise forbidden(f"{ticket_no} is not your department's to act on")
    return c


def ticket_access(
    purpose: Purpose, roles: Sequence[str], param: str = "ticket_no"
) -> Callable[..., Awaitable[Principal]]:
    """A route dependency: the caller must hold one of `roles` (else 403) and reach the path's
    ticket for `purpose` (else 404/403), checked before the body is read."""
    role_check = require_roles(*roles)

    async def dependency(
        request: Request,
        principal: Principal = Depends(role_check),
    ) -> Principal:
        rt: Runtime = request.app.state.runtime
        ticket_no = request.path_params[param]
        async with rt.db.sessions() as session:
            c = await session.scalar(select(Complaint).where(Complaint.ticket_no == ticket_no))
        check(c, ticket_no, principal, rt, purpose)
        return principal

    return dependency


@dataclass(frozen=True)
class AuditEntry:
    actor: str
    roles: Sequence[str]
    action: str
    ticket_nos: Sequence[str]
    reason: str


async def audit(uow: UnitOfWork, entry: AuditEntry) -> None:
    """Record an audited read in the caller's transaction."""
    uow.session.add(
        AccessAudit(
            actor=entry.actor,
            roles=sorted(entry.roles),
            action=entry.action,
            ticket_nos=list(entry.ticket_nos),
            reason=entry.reason[:300],
        )
    )


async def audit_now(
    rt: Runtime, principal: Principal, action: str, tickets: Sequence[str], reason: str
) -> None:
    """Record an audited read in its own transaction (reads have none)."""
    if not tickets and action == "read_msisdn":
        return
    async with rt.db.uow() as uow:
        await audit_read(uow, principal, action, tickets, reason)
        await uow.commit()


async def audit_read(
    uow: UnitOfWork, principal: Principal, action: str, tickets: Sequence[str], reason: str
) -> None:
    """Record an audited read in the caller's transaction (a write that shows what it wrote)."""
    await audit(uow, AuditEntry(principal.sub, sorted(principal.roles), action, tickets, reason))
