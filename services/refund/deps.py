"""What the refund routers share: roles, the rules, amount parsing, and conflict handling."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from services.refund.authority import AmountError, parse_refund_amount
from services.refund.commands import Actor
from services.refund.settings import RefundRules
from shared.auth import Principal, require_roles
from shared.db import UnitOfWork
from shared.errors import Problem, field_error
from shared.service import Runtime, runtime

T = TypeVar("T")

REQUESTERS = ("agent", "frontline", "room_manager", "centre_manager", "leadership")
READERS = (*REQUESTERS, "ops", "billing")

Requester = Annotated[Principal, Depends(require_roles(*REQUESTERS))]
Reader = Annotated[Principal, Depends(require_roles(*READERS))]
Billing = Annotated[Principal, Depends(require_roles("billing"))]
Auditor = Annotated[Principal, Depends(require_roles("ops", "leadership"))]
SpProver = Annotated[Principal, Depends(require_roles(*REQUESTERS, "partner"))]
DisputeReader = Annotated[Principal, Depends(require_roles(*READERS, "partner"))]
Rt = Annotated[Runtime, Depends(runtime)]

CONFLICTS = (StaleDataError, IntegrityError)
"""What a concurrent writer to the same row causes (version check, unique key)."""
ATTEMPTS = 3


def _rules(request: Request) -> RefundRules:
    rules: RefundRules = request.app.state.refund_rules
    return rules


Rules = Annotated[RefundRules, Depends(_rules)]


def actor(principal: Principal) -> Actor:
    return Actor(principal.sub, principal.roles)


def amount_fen(text: str, field: str, rules: RefundRules) -> int:
    """A two-place decimal string as fen within the policy, or 422 naming the field."""
    try:
        return parse_refund_amount(text, field=field, policy=rules.policy)
    except AmountError as exc:
        raise field_error(exc.field, exc.message) from exc


def concurrent(what: str) -> Problem:
    return Problem(409, "Concurrent update", f"{what} changed meanwhile; read it and retry")


async def retrying(what: str, attempt: Callable[[], Awaitable[T]]) -> T:
    """Run a write again when a concurrent writer beat it; 409 if it keeps losing."""
    for _ in range(ATTEMPTS - 1):
        try:
            return await attempt()
        except CONFLICTS:
            continue
    try:
        return await attempt()
    except CONFLICTS as exc:
        raise concurrent(what) from exc


async def write_once(rt: Runtime, what: str, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
    """One transaction; a concurrent writer that got there first → 409 (no retry)."""
    try:
        async with rt.db.uow() as uow:
            result = await work(uow)
            await uow.commit()
            return result
    except CONFLICTS as exc:
        raise concurrent(what) from exc
