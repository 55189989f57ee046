"""What the refund routers share: roles, the rules, amount parsing, what counts as a conflict."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from services.refund.authority import AmountError, parse_refund_amount
from services.refund.commands import Actor
from services.refund.settings import RefundRules
from shared.auth import Principal, require_roles
from shared.errors import Invalid
from shared.service import Runtime, runtime

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
"""What a concurrent writer to the same row causes (version check, unique key): routes pass
it to `shared.usecase.run` as `conflicts=`."""
ATTEMPTS = 3
"""Tries for the writes that retry after losing to a concurrent writer (request, payout)."""


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
        raise Invalid(exc.field, exc.message) from exc
