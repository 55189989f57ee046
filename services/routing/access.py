"""Routing's access check, one place: a ticket's assignment is read and moved only by those
`domain.AccessRules` admit (404 outside the read scope, 403 when readable but not movable)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Literal

from fastapi import Depends, Request

from services.routing import domain
from services.routing.models import Assignment
from shared.access import TicketFacts, department_with_units, forbidden, not_found
from shared.auth import Principal, require_roles
from shared.service import Runtime

RULES = domain.AccessRules()


def assignment_access(
    purpose: Literal["read", "act"], roles: Sequence[str]
) -> Callable[..., Awaitable[Principal]]:
    """A route dependency checking the path's ticket before the body is read."""
    role_check = require_roles(*roles)

    async def dependency(
        request: Request,
        principal: Principal = Depends(role_check),
    ) -> Principal:
        rt: Runtime = request.app.state.runtime
        ticket_no = request.path_params["ticket_no"]
        async with rt.db.sessions() as session:
            a = await session.get(Assignment, ticket_no)
        if a is None:
            raise not_found("assignment for", ticket_no)
        units = department_with_units(principal.dept, rt.settings.access_sub_units)
        facts = TicketFacts(departments=frozenset({a.owner_department, a.handler_department}))
        if not domain.read_scope(principal.roles, principal.dept, units, RULES).admits(facts):
            raise not_found("assignment for", ticket_no)
        if purpose == "act" and not domain.act_scope(
            principal.roles, principal.dept, units, RULES
        ).admits(facts):
            raise forbidden(f"{ticket_no} is not your department's to move")
        return principal

    return dependency


def queue_access(roles: Sequence[str]) -> Callable[..., Awaitable[Principal]]:
    """A route dependency for a department's queue: only those whose read scope takes in that
    department (its own staff, its managers, leadership, ops); 404 for anyone else."""
    role_check = require_roles(*roles)

    async def dependency(
        request: Request,
        principal: Principal = Depends(role_check),
    ) -> Principal:
        rt: Runtime = request.app.state.runtime
        department = request.path_params["department"]
        units = department_with_units(principal.dept, rt.settings.access_sub_units)
        facts = TicketFacts(departments=frozenset({department}))
        if not domain.read_scope(principal.roles, principal.dept, units, RULES).admits(facts):
            raise not_found("department", department)
        return principal

    return dependency
