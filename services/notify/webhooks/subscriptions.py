"""Subscription use cases shared by the webhook API and the TMF621 hub."""

from __future__ import annotations

import base64
import secrets
import uuid
from datetime import datetime, timedelta

from services.notify.components import Components
from services.notify.models import WebhookSubscription
from services.notify.webhooks.ssrf import UnsafeTarget, check_target
from shared.auth import Principal
from shared.db import UnitOfWork
from shared.errors import Problem, field_error


def new_secret() -> str:
    """A Standard Webhooks secret: whsec_ + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def new_id(kind: str) -> str:
    return ("hub_" if kind == "tmf621" else "ep_") + uuid.uuid4().hex[:24]


async def check_url(parts: Components, url: str, field: str) -> None:
    """422 naming `field` unless the URL is allowed (SSRF rules, https in production)."""
    try:
        await check_target(
            url,
            allow_private=parts.settings.private_targets_allowed,
            require_https=parts.settings.production,
            resolver=parts.resolver,
        )
    except UnsafeTarget as exc:
        raise field_error(field, str(exc)) from exc


def create(
    uow: UnitOfWork,
    principal: Principal,
    *,
    kind: str,
    url: str,
    events: list[str],
    description: str | None = None,
    query: str | None = None,
    owner_email: str | None = None,
) -> WebhookSubscription:
    sub = WebhookSubscription(
        id=new_id(kind),
        kind=kind,
        url=url,
        events=events,
        description=description,
        query=query,
        owner=principal.sub,
        owner_role="ops" if principal.has_any("ops") else "partner",
        owner_email=owner_email,
        secret=new_secret(),
        status="active",
    )
    uow.session.add(sub)
    return sub


async def owned(
    uow: UnitOfWork, principal: Principal, subscription_id: str, kind: str = "standard"
) -> WebhookSubscription:
    """The subscription if the caller may manage it (ops: any; partners: their own)."""
    sub = await uow.session.get(WebhookSubscription, subscription_id)
    if (
        sub is None
        or sub.kind != kind
        or sub.status == "deleted"
        or not (principal.has_any("ops") or sub.owner == principal.sub)
    ):
        raise Problem(404, "Not Found", f"no subscription {subscription_id}")
    return sub


def rotate(sub: WebhookSubscription, now: datetime, grace_s: int) -> None:
    """New secret now; the old one keeps signing (alongside) until the grace period ends."""
    sub.previous_secret = sub.secret
    sub.previous_secret_until = now + timedelta(seconds=grace_s)
    sub.secret = new_secret()
