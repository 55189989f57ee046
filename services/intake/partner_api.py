"""Partner intake: complaints transferred by the 12300 appeal centre, consumer associations
and other partners, over Standard Webhooks signed with each partner's own secret.

A partner identifies itself with the `Partner-Id` header; the body is signed (webhook-id,
webhook-timestamp, webhook-signature). A replayed `webhook-id` or an already transferred
`source.external_id` returns the original ticket. Every such complaint is over-level (越级).
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from services.intake import handlers
from services.intake.api import read_model
from services.intake.schemas import ComplaintRead, CustomerlessAllowed, Source
from services.intake.settings import IntakeSettings
from shared.auth import Principal
from shared.db import UnitOfWork
from shared.errors import PROBLEM_RESPONSES, Problem
from shared.idempotency import Created, request_fingerprint
from shared.service import Runtime, runtime

router = APIRouter(prefix="/v1/partner", tags=["partner intake"], responses=PROBLEM_RESPONSES)


class PartnerComplaint(CustomerlessAllowed):
    """A complaint a partner transfers to us: `source` (its own reference) is required; the
    customer's `msisdn` may be absent (a letter without a number, a report about a cell),
    with `no_customer_reason` saying why (recorded; nobody is messaged)."""

    source: Source


def _unauthorised(detail: str) -> Problem:
    return Problem(401, "Signature rejected", detail)


def _verified_body(
    settings: IntakeSettings, partner: str, body: bytes, headers: dict[str, str]
) -> None:
    secret = settings.partner_secrets.get(partner)
    if secret is None:
        raise _unauthorised("unknown partner")
    stamp = headers.get("webhook-timestamp", "")
    try:
        skew = abs(time.time() - float(stamp))
    except ValueError:
        raise _unauthorised("webhook-timestamp: not a Unix timestamp") from None
    if skew > settings.partner_timestamp_tolerance_s:
        raise _unauthorised("webhook-timestamp: outside the tolerance window")
    try:
        Webhook(secret).verify(body, headers, json_parse=False)
    except WebhookVerificationError as exc:
        raise _unauthorised(str(exc)) from exc
    except (ValueError, UnicodeError, TypeError):  # a non-UTF-8 body or a comma-less signature
        raise _unauthorised("webhook-signature: malformed, or the body is not UTF-8") from None


def _check_identity(settings: IntakeSettings, partner: str, org: str) -> None:
    """The signing partner speaks only for itself (or the names configured for it): 403."""
    allowed = {partner, *settings.access_partner_orgs.get(partner, [])}
    if org not in allowed:
        raise Problem(
            403,
            "Forbidden",
            f"source.org: {partner} may not transfer complaints as {org!r}",
            errors=[{"field": "source.org", "message": "must be the signing Partner-Id"}],
        )


@router.post(
    "/complaints",
    status_code=201,
    response_model=ComplaintRead,
    summary="A partner transfers a complaint (Standard Webhooks signed)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": PartnerComplaint.model_json_schema(
                        ref_template="#/components/schemas/{model}"
                    )
                }
            },
        }
    },
)
async def partner_complaint(
    request: Request,
    response: Response,
    rt: Annotated[Runtime, Depends(runtime)],
    partner_id: Annotated[str | None, Header(alias="Partner-Id")] = None,
    webhook_id: Annotated[str | None, Header(alias="webhook-id")] = None,
    webhook_timestamp: Annotated[str | None, Header(alias="webhook-timestamp")] = None,
    webhook_signature: Annotated[str | None, Header(alias="webhook-signature")] = None,
) -> ComplaintRead:
    """Registers a partner's complaint once. The signature covers the raw body; an unknown
    partner, a bad signature or a timestamp outside the tolerance gets 401 and changes nothing."""
    settings: IntakeSettings = rt.settings  # type: ignore[assignment]
    if not partner_id:
        raise _unauthorised("Partner-Id header missing")
    if not (webhook_id and webhook_timestamp and webhook_signature):
        raise _unauthorised("webhook-id, webhook-timestamp and webhook-signature are required")
    if len(webhook_id) > 200:
        raise _unauthorised("webhook-id: longer than 200 characters")
    raw = await request.body()
    _verified_body(
        settings,
        partner_id,
        raw,
        {
            "webhook-id": webhook_id,
            "webhook-timestamp": webhook_timestamp,
            "webhook-signature": webhook_signature,
        },
    )
    try:
        data = PartnerComplaint.model_validate_json(raw)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
        ]
        raise Problem(
            422,
            "Invalid request",
            "; ".join(f"{e['field']}: {e['message']}" for e in errors),
            errors=errors,
        ) from exc
    _check_identity(settings, partner_id, data.source.org)
    principal = Principal(
        sub=f"partner:{partner_id}",
        name=partner_id,
        roles=frozenset({"partner"}),
        claims={"partner_id": partner_id},
    )
    cmd = handlers.RegisterComplaint(
        data=data,
        principal=principal,
        accepting_department=settings.default_department,
        over_level=True,
        major_policy=settings.major,
        user_type_asserters=settings.user_type_asserters,
    )

    async def create(uow: UnitOfWork) -> Created:
        existing = await handlers.find_by_source(uow, data.source.org, data.source.external_id)
        if existing is not None:
            return Created(existing.ticket_no, replayed=True)
        complaint = await handlers.register_complaint(cmd, uow)
        return Created(complaint.ticket_no, replayed=False)

    async def once() -> Created:
        return await rt.idempotent.run(
            scope=f"partner:{partner_id}",
            key=webhook_id,
            fingerprint=request_fingerprint(data.model_dump(mode="json")),
            create=create,
        )

    try:
        created = await once()
    except IntegrityError:
        # the same source.external_id arrived concurrently under another webhook-id
        created = await once()
    if created.replayed:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/v1/complaints/{created.resource_id}"
    async with rt.db.uow() as uow:
        complaint = await handlers.load(uow, created.resource_id)
        return read_model(complaint, principal)
