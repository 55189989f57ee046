"""Partner webhook API: subscriptions (Standard Webhooks), the delivery log and replays."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notify.components import Components, components
from services.notify.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from services.notify.webhooks import subscriptions
from services.notify.webhooks.catalogue import EVENT_TYPES
from services.notify.webhooks.schemas import (
    AttemptRead,
    DeliveryPage,
    DeliveryRead,
    SecretRead,
    SubscriptionCreate,
    SubscriptionRead,
)
from shared.auth import Principal, require_roles
from shared.db import UnitOfWork
from shared.errors import PROBLEM_RESPONSES, Problem
from shared.idempotency import Created, request_fingerprint
from shared.pagination import decode_int_cursor, encode_cursor
from shared.service import Runtime, runtime

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], responses=PROBLEM_RESPONSES)
Partner = Annotated[Principal, Depends(require_roles("ops", "partner"))]
Rt = Annotated[Runtime, Depends(runtime)]
Parts = Annotated[Components, Depends(components)]
SubscriptionId = Annotated[
    str, Path(pattern=r"^ep_[0-9a-f]{24}$", examples=["ep_0123456789abcdef01234567"])
]
DeliveryId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def read_model(sub: WebhookSubscription, *, with_secret: bool = False) -> SubscriptionRead:
    return SubscriptionRead(
        id=sub.id,
        url=sub.url,
        events=sub.events,
        description=sub.description,
        owner=sub.owner,
        status=sub.status,
        disabled_reason=sub.disabled_reason,
        failing_since=sub.failing_since,
        created_at=sub.created_at,
        secret=sub.secret if with_secret else None,
        previous_secret_until=sub.previous_secret_until,
    )


@router.get(
    "/event-types", response_model=list[str], summary="Event types partners can subscribe to"
)
async def event_types(_: Partner) -> list[str]:
    return list(EVENT_TYPES)


@router.post(
    "/subscriptions",
    status_code=201,
    response_model=SubscriptionRead,
    summary="Subscribe an endpoint; this response alone carries its whsec_ signing secret",
)
async def create_subscription(
    body: SubscriptionCreate,
    principal: Partner,
    rt: Rt,
    parts: Parts,
    response: Response,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> SubscriptionRead:
    await subscriptions.check_url(parts, body.url, "url")

    async def create(uow: UnitOfWork) -> Created:
        sub = subscriptions.create(
            uow,
            principal,
            kind="standard",
            url=body.url,
            events=body.events,
            description=body.description,
            owner_email=body.owner_email,
        )
        return Created(sub.id, replayed=False)

    created = await rt.idempotent.run(
        scope=f"webhook-subscriptions:{principal.sub}",
        key=idempotency_key,
        fingerprint=request_fingerprint(body.model_dump(mode="json")),
        create=create,
    )
    response.headers["Location"] = f"/v1/webhooks/subscriptions/{created.resource_id}"
    async with rt.db.uow() as uow:
        sub = await subscriptions.owned(uow, principal, created.resource_id)
        # shown once: a replayed create does not show it again (rotate-secret makes a new one)
        return read_model(sub, with_secret=not created.replayed)


@router.get("/subscriptions", response_model=list[SubscriptionRead], summary="Subscriptions")
async def list_subscriptions(principal: Partner, rt: Rt) -> list[SubscriptionRead]:
    query = (
        select(WebhookSubscription)
        .where(WebhookSubscription.kind == "standard", WebhookSubscription.status != "deleted")
        .order_by(WebhookSubscription.created_at, WebhookSubscription.id)
    )
    if not principal.has_any("ops"):
        query = query.where(WebhookSubscription.owner == principal.sub)
    async with rt.db.sessions() as session:
        rows = (await session.scalars(query)).all()
    return [read_model(s) for s in rows]


@router.get("/subscriptions/{subscription_id}", response_model=SubscriptionRead)
async def get_subscription(
    subscription_id: SubscriptionId, principal: Partner, rt: Rt
) -> SubscriptionRead:
    async with rt.db.uow() as uow:
        return read_model(await subscriptions.owned(uow, principal, subscription_id))


async def _change(
    rt: Runtime, principal: Principal, subscription_id: str, status: str
) -> SubscriptionRead:
    async with rt.db.uow() as uow:
        sub = await subscriptions.owned(uow, principal, subscription_id)
        if status == "paused" and sub.status == "disabled":
            raise Problem(409, "Subscription disabled", "resume it instead")
        sub.status = status
        if status in ("active", "deleted"):
            sub.failing_since, sub.disabled_reason = None, None
        await uow.commit()
        return read_model(sub)


@router.post(
    "/subscriptions/{subscription_id}/pause",
    response_model=SubscriptionRead,
    summary="Pause deliveries (events keep queueing)",
)
async def pause(subscription_id: SubscriptionId, principal: Partner, rt: Rt) -> SubscriptionRead:
    return await _change(rt, principal, subscription_id, "paused")


@router.post(
    "/subscriptions/{subscription_id}/resume",
    response_model=SubscriptionRead,
    summary="Resume a paused or disabled subscription; queued deliveries go out",
)
async def resume(subscription_id: SubscriptionId, principal: Partner, rt: Rt) -> SubscriptionRead:
    return await _change(rt, principal, subscription_id, "active")


@router.post(
    "/subscriptions/{subscription_id}/rotate-secret",
    response_model=SecretRead,
    summary="New secret; both signatures are sent until the old one expires",
)
async def rotate_secret(
    subscription_id: SubscriptionId, principal: Partner, rt: Rt, parts: Parts
) -> SecretRead:
    async with rt.db.uow() as uow:
        sub = await subscriptions.owned(uow, principal, subscription_id)
        subscriptions.rotate(sub, parts.clock.now(), parts.settings.webhook_secret_rotation_grace_s)
        await uow.commit()
        return SecretRead(secret=sub.secret, previous_secret_until=sub.previous_secret_until)


@router.delete("/subscriptions/{subscription_id}", status_code=204)
async def delete_subscription(
    subscription_id: SubscriptionId, principal: Partner, rt: Rt
) -> Response:
    await _change(rt, principal, subscription_id, "deleted")
    return Response(status_code=204)


# --- deliveries -------------------------------------------------------------------------------
async def _delivery_reads(
    session: AsyncSession, deliveries: list[WebhookDelivery]
) -> list[DeliveryRead]:
    ids = [d.id for d in deliveries]
    attempts = (
        await session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(ids))
            .order_by(WebhookAttempt.id)
        )
    ).all()
    log: dict[int, list[AttemptRead]] = {i: [] for i in ids}
    for a in attempts:
        log[a.delivery_id].append(AttemptRead.model_validate(a, from_attributes=True))
    return [
        DeliveryRead(
            id=d.id,
            webhook_id=d.webhook_id,
            subscription_id=d.subscription_id,
            event_type=d.event_type,
            ticket_no=d.ticket_no,
            status=d.status,
            attempts=d.attempts,
            next_attempt_at=d.next_attempt_at,
            last_status_code=d.last_status_code,
            created_at=d.created_at,
            finished_at=d.finished_at,
            attempt_log=log[d.id],
        )
        for d in deliveries
    ]


@router.get(
    "/deliveries",
    response_model=DeliveryPage,
    summary="Deliveries with their per-attempt log (oldest first)",
)
async def list_deliveries(
    principal: Partner,
    rt: Rt,
    subscription_id: Annotated[str | None, Query(max_length=40)] = None,
    status: Literal["pending", "delivered", "failed"] | None = None,
    ticket_no: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
) -> DeliveryPage:
    query = (
        select(WebhookDelivery)
        .join(WebhookSubscription)
        .order_by(WebhookDelivery.id)
        .limit(limit + 1)
    )
    if not principal.has_any("ops"):
        query = query.where(WebhookSubscription.owner == principal.sub)
    if subscription_id is not None:
        query = query.where(WebhookDelivery.subscription_id == subscription_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    if ticket_no is not None:
        query = query.where(WebhookDelivery.ticket_no == ticket_no)
    if cursor is not None:
        query = query.where(WebhookDelivery.id > decode_int_cursor(cursor))
    async with rt.db.sessions() as session:
        rows = list((await session.scalars(query)).all())
        more = len(rows) > limit
        rows = rows[:limit]
        items = await _delivery_reads(session, rows)
    return DeliveryPage(items=items, next_cursor=encode_cursor(rows[-1].id) if more else None)


async def _owned_delivery(
    uow: UnitOfWork, principal: Principal, delivery_id: int
) -> WebhookDelivery:
    d = await uow.session.get(WebhookDelivery, delivery_id)
    if d is not None:
        sub = await uow.session.get(WebhookSubscription, d.subscription_id)
        if sub is not None and (principal.has_any("ops") or sub.owner == principal.sub):
            return d
    raise Problem(404, "Not Found", f"no delivery {delivery_id}")


@router.get("/deliveries/{delivery_id}", response_model=DeliveryRead)
async def get_delivery(delivery_id: DeliveryId, principal: Partner, rt: Rt) -> DeliveryRead:
    async with rt.db.uow() as uow:
        d = await _owned_delivery(uow, principal, delivery_id)
        return (await _delivery_reads(uow.session, [d]))[0]


@router.post(
    "/deliveries/{delivery_id}/replay",
    status_code=202,
    response_model=DeliveryRead,
    summary="Send a delivery again (same webhook-id, a fresh retry schedule)",
)
async def replay(delivery_id: DeliveryId, principal: Partner, rt: Rt, parts: Parts) -> DeliveryRead:
    async with rt.db.uow() as uow:
        d = await _owned_delivery(uow, principal, delivery_id)
        if d.status == "pending" and d.lease_until is not None:
            raise Problem(409, "Delivery in flight", "an attempt is running; try again shortly")
        d.status, d.round_attempts, d.finished_at = "pending", 0, None
        d.next_attempt_at, d.lease_until = parts.clock.now(), None
        await uow.commit()
        return (await _delivery_reads(uow.session, [d]))[0]
