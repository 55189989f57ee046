"""TMF621 hub (TMF630 notification pattern): a partner registers a listener callback and
receives TroubleTicketCreateEvent, TroubleTicketStatusChangeEvent,
TroubleTicketAttributeValueChangeEvent and TroubleTicketResolvedEvent bodies
(`eventId`, `eventTime`, `eventType`, `event: {troubleTicket: {...}}`), POSTed to
`{callback}/listener/<eventType in lowerCamelCase>` with the same retries, SSRF guard,
signatures and delivery log as every webhook."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Response

from services.notify.components import Components, components
from services.notify.webhooks import subscriptions
from services.notify.webhooks.schemas import HubCreate, HubRead, tmf_events_from_query
from shared.auth import Principal, require_roles
from shared.db import UnitOfWork
from shared.errors import TMF_ERROR_RESPONSES, field_error
from shared.idempotency import Created, request_fingerprint
from shared.service import Runtime, runtime

HUB = "/tmf-api/troubleTicket/v4/hub"
router = APIRouter(prefix=HUB, tags=["TMF621 hub"], responses=TMF_ERROR_RESPONSES)
Partner = Annotated[Principal, Depends(require_roles("ops", "partner"))]
Rt = Annotated[Runtime, Depends(runtime)]
Parts = Annotated[Components, Depends(components)]


@router.post(
    "",
    status_code=201,
    response_model=HubRead,
    response_model_exclude_none=True,
    summary="Register a listener for trouble-ticket events",
)
async def register_listener(
    body: HubCreate,
    principal: Partner,
    rt: Rt,
    parts: Parts,
    response: Response,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> HubRead:
    try:
        events = tmf_events_from_query(body.query)
    except ValueError as exc:
        raise field_error("query", str(exc), status=400) from exc
    await subscriptions.check_url(parts, body.callback, "callback")

    async def create(uow: UnitOfWork) -> Created:
        sub = subscriptions.create(
            uow, principal, kind="tmf621", url=body.callback, events=events, query=body.query
        )
        return Created(sub.id, replayed=False)

    created = await rt.idempotent.run(
        scope=f"tmf-hub:{principal.sub}",
        key=idempotency_key,
        fingerprint=request_fingerprint(body.model_dump(mode="json")),
        create=create,
    )
    response.headers["Location"] = f"{HUB}/{created.resource_id}"
    async with rt.db.uow() as uow:
        sub = await subscriptions.owned(uow, principal, created.resource_id, kind="tmf621")
        return HubRead(id=sub.id, callback=sub.url, query=sub.query, secret=sub.secret)


@router.delete("/{hub_id}", status_code=204, summary="Unregister a listener")
async def unregister_listener(
    hub_id: Annotated[str, Path(pattern=r"^hub_[0-9a-f]{24}$")], principal: Partner, rt: Rt
) -> Response:
    async with rt.db.uow() as uow:
        sub = await subscriptions.owned(uow, principal, hub_id, kind="tmf621")
        sub.status = "deleted"
        await uow.commit()
    return Response(status_code=204)
