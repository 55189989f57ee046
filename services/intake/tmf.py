"""TMF621 Trouble Ticket v4: a TM Forum view of the same complaints, the same lifecycle and
the same store (no second system).

- `id` = `ticket_no`; `externalId` = the partner's reference; `channel.name` = our channel;
  `relatedParty[role=customer].id` = the MSISDN (masked unless the caller's role needs it);
  a ticket may have no customer (an internal fault report, a partner's ticket about a cell):
  it gets no customer SMS. `note` = our append-only notes; `statusChange` = our history;
  `expectedResolutionDate` = the resolution clock's deadline.
- severity, ticketType and status: the one table in tmf_mapping (also in the OpenAPI).
- PATCHing `status` runs our lifecycle commands (acknowledged → accept; inProgress → accept
  and/or start, or resume; pending/held → hold; resolved → resolve; closed → the customer's
  satisfied feedback; cancelled/rejected → cancel), so an illegal move is 409 and any change
  to a closed or cancelled ticket is 422.
- Errors are TMF630's Error model (shared.errors): 400 for a missing mandatory attribute or
  a malformed value, 404 unknown id, 405 unsupported method, 409 illegal transition, 422 a
  rule refused it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response
from pydantic import ValidationError
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.exc import IntegrityError

from services.intake import access, domain, handlers, tmf_query
from services.intake import tmf_mapping as mapping
from services.intake.lifecycle import Command
from services.intake.models import Complaint
from services.intake.schemas import CustomerlessAllowed
from services.intake.settings import IntakeSettings
from services.intake.tmf_schemas import (
    ATTRIBUTES,
    BASE,
    TmfStatus,
    TroubleTicket,
    TroubleTicketCreate,
    TroubleTicketPatch,
)
from services.intake.tmf_view import load_with_timeline, to_tmf
from shared.auth import Principal, require_roles
from shared.db import UnitOfWork
from shared.errors import TMF_ERROR_RESPONSES, Problem, field_error
from shared.idempotency import Created, request_fingerprint
from shared.service import Runtime, runtime

TMF_ROLES = ("partner", "agent", "frontline", "ops")
router = APIRouter(prefix=BASE, tags=["TMF621 trouble ticket"], responses=TMF_ERROR_RESPONSES)
Caller = Annotated[Principal, Depends(require_roles(*TMF_ROLES))]
Readable = Annotated[Principal, Depends(access.ticket_access("read", TMF_ROLES, "id"))]
Rt = Annotated[Runtime, Depends(runtime)]
NO_CUSTOMER = "TMF621 ticket without a customer party"


def scope(principal: Principal, rt: Runtime) -> ColumnElement[bool]:
    """What `principal` may read: the access policy's WHERE clause (services/intake/access)."""
    return access.list_filter(principal, rt.settings)


def select_fields(body: dict[str, Any], fields: str | None, *, keep_id: bool) -> dict[str, Any]:
    """`fields=a,b`: only those attributes. A list keeps `id` and `href` so each item stays
    identifiable; a single ticket (its id is in the URL) returns exactly what was asked, as
    TM Forum's conformance kit checks."""
    if not fields:
        return body
    wanted = {f.strip() for f in fields.split(",") if f.strip()}
    unknown = wanted - ATTRIBUTES
    if unknown:
        raise field_error("fields", f"unknown attributes: {', '.join(sorted(unknown))}", 400)
    if keep_id:
        wanted |= {"id", "href"}
    return {k: v for k, v in body.items() if k in wanted}


def _customer(body: TroubleTicketCreate) -> tuple[str | None, str | None]:
    for party in body.relatedParty:
        if party.role.lower() == "customer":
            return party.id, party.name
    return None, None


def _intake(body: TroubleTicketCreate) -> CustomerlessAllowed:
    channel = body.channel.name if body.channel and body.channel.name else "web"
    msisdn, name = _customer(body)
    try:
        return CustomerlessAllowed(
            channel=channel if channel in domain.CHANNELS else "web",
            msisdn=msisdn,
            no_customer_reason=None if msisdn else NO_CUSTOMER,
            description=body.description,
            category=mapping.category_for(body.ticketType),
            customer_name=name,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        field = {"msisdn": "relatedParty"}.get(str(first["loc"][0]), str(first["loc"][0]))
        raise field_error(field, first["msg"]) from exc


def _references(body: TroubleTicketCreate | TroubleTicketPatch) -> dict[str, Any]:
    return {
        k: [item.model_dump(mode="json", by_alias=True, exclude_none=True) for item in v]
        for k in ("relatedEntity", "attachment", "troubleTicketRelationship")
        if (v := getattr(body, k)) is not None
    }


def _partner(principal: Principal) -> str | None:
    """A partner's tickets carry its identity as source org, so it can read them back."""
    return access.partner_id(principal) if "partner" in principal.roles else None


@router.post(
    "",
    status_code=201,
    summary="Create a trouble ticket (registers a complaint)",
    responses={201: {"model": TroubleTicket, "description": "Created"}},
    description=mapping.MAPPING_MARKDOWN,
)
async def create_trouble_ticket(
    body: TroubleTicketCreate,
    principal: Caller,
    rt: Rt,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> dict[str, Any]:
    """A repeated `externalId` from the same caller, or a retry with the same
    `Idempotency-Key`, returns the original ticket (`Idempotent-Replayed: true`)."""
    settings: IntakeSettings = rt.settings  # type: ignore[assignment]
    data = _intake(body)
    org = _partner(principal) or (principal.sub if body.externalId else None)

    async def create(uow: UnitOfWork) -> Created:
        if org and body.externalId:
            existing = await handlers.find_by_source(uow, org, body.externalId)
            if existing is not None:
                return Created(existing.ticket_no, replayed=True)
        complaint = await handlers.register_complaint(
            handlers.RegisterComplaint(
                data=data,
                principal=principal,
                accepting_department=principal.dept or settings.default_department,
                source_org=org,
                source_external_id=body.externalId,
                major_policy=settings.major,
                user_type_asserters=settings.user_type_asserters,
            ),
            uow=uow,
        )
        complaint.reported_severity = body.severity
        complaint.tmf_ticket_type = body.ticketType
        complaint.tmf_name = body.name
        complaint.details = {**complaint.details, **_references(body)}
        for note in body.note:
            author = note.author or principal.sub
            await handlers.add_note(handlers.AddNote(complaint.ticket_no, author, note.text), uow)
        return Created(complaint.ticket_no, replayed=False)

    try:
        created = await rt.idempotent.run(
            scope=f"tmf621:{principal.sub}",
            key=idempotency_key,
            fingerprint=request_fingerprint(body.model_dump(mode="json", by_alias=True)),
            create=create,
        )
    except IntegrityError:  # the same externalId at the same moment: the other one won
        async with rt.db.uow() as uow:
            created = await create(uow)
    if created.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"{BASE}/{created.resource_id}"
    async with rt.db.uow() as uow:
        complaint, timeline = await load_with_timeline(uow, created.resource_id)
        return to_tmf(complaint, timeline, principal)


@router.get(
    "",
    summary="List trouble tickets (attribute filters, fields, offset/limit)",
    responses={200: {"model": list[TroubleTicket], "description": "OK"}},
    description="Filter on any of: "
    + ", ".join(tmf_query.FILTERABLE)
    + " as `attr=v` (a comma means any of), `attr.op=v` or `attr[op]=v` with op in "
    + ", ".join(tmf_query.OPERATORS)
    + " (gt/gte/lt/lte on dates). `X-Total-Count` and `X-Result-Count` give the counts.\n\n"
    + mapping.MAPPING_MARKDOWN,
)
async def list_trouble_tickets(
    request: Request,
    principal: Caller,
    rt: Rt,
    response: Response,
    fields: Annotated[str | None, Query(max_length=500)] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    severity: Annotated[str | None, Query(max_length=100)] = None,
    ticketType: Annotated[str | None, Query(max_length=200)] = None,
    status: Annotated[str | None, Query(max_length=200)] = None,
    externalId: Annotated[str | None, Query(max_length=100)] = None,
) -> list[dict[str, Any]]:
    query = tmf_query.list_query(request.query_params.multi_items(), scope(principal, rt))
    async with rt.db.sessions() as session:
        total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = list((await session.scalars(query.offset(offset).limit(limit))).all())
        timelines = await _timelines(session, [c.id for c in rows])
    response.headers["X-Total-Count"] = str(total)
    response.headers["X-Result-Count"] = str(len(rows))
    return [
        select_fields(to_tmf(c, timelines.get(c.id, []), principal), fields, keep_id=True)
        for c in rows
    ]


async def _timelines(session: Any, ids: list[int]) -> dict[int, list[Any]]:
    from services.intake.models import TimelineEntry

    entries = (
        await session.scalars(
            select(TimelineEntry)
            .where(TimelineEntry.complaint_id.in_(ids))
            .order_by(TimelineEntry.id)
        )
    ).all()
    out: dict[int, list[Any]] = {}
    for e in entries:
        out.setdefault(e.complaint_id, []).append(e)
    return out


@router.get(
    "/{id}",
    summary="One trouble ticket",
    responses={200: {"model": TroubleTicket, "description": "OK"}},
)
async def get_trouble_ticket(
    id: str,
    principal: Readable,
    rt: Rt,
    fields: Annotated[str | None, Query(max_length=500)] = None,
) -> dict[str, Any]:
    async with rt.db.uow() as uow:
        complaint, timeline = await load_with_timeline(uow, id)
        return select_fields(to_tmf(complaint, timeline, principal), fields, keep_id=False)


def _commands_towards(target: TmfStatus, status: str) -> list[Command]:
    """The lifecycle commands that take a complaint in `status` to TMF `target`."""
    if mapping.STATUS_TO_TMF[status] == target or (
        mapping.STATUS_TO_TMF[status] == "pending" and target == "held"
    ):
        return []
    if target == "acknowledged":
        return ["accept"]
    if target == "inProgress":
        if status == "received":
            return ["accept", "start"]
        return ["resume"] if status == "pending" else ["start"]
    if target in ("pending", "held"):
        return ["hold"]
    if target == "resolved":
        return ["resolve"]
    if target == "closed":
        return ["feedback"]
    return ["cancel"]


async def _apply(
    uow: UnitOfWork, complaint: Complaint, patch: TroubleTicketPatch, actor: str
) -> None:
    id_, reason = complaint.ticket_no, patch.statusChangeReason
    if patch.note is not None:
        known = {
            t.detail["text"] for t in (await load_with_timeline(uow, id_))[1] if t.kind == "note"
        }
        for note in patch.note:
            if note.id is None and note.text not in known:
                await handlers.add_note(handlers.AddNote(id_, note.author or actor, note.text), uow)
    if patch.severity is not None:
        complaint.reported_severity = patch.severity
    if patch.name is not None:
        complaint.tmf_name = patch.name
    complaint.details = {**complaint.details, **_references(patch)}
    if patch.ticketType is not None:
        complaint.tmf_ticket_type = patch.ticketType
        category = mapping.category_for(patch.ticketType)
        if category is not None and category != complaint.category:
            await handlers.reclassify(
                handlers.Reclassify(id_, category, actor, reason or "changed via TMF621"), uow
            )
    if patch.status is not None:
        for command in _commands_towards(patch.status, complaint.status):
            detail: dict[str, object] = {}
            if command == "resolve":
                detail = {"resolution": reason or "resolved", "responsibility": "none"}
            await handlers.transition(
                handlers.Transition(
                    ticket_no=id_,
                    command=command,
                    actor=actor,
                    reason=reason,
                    detail=detail,
                    satisfied=True if command == "feedback" else None,
                ),
                uow=uow,
            )


@router.patch(
    "/{id}",
    summary="Update a trouble ticket (JSON merge patch)",
    responses={200: {"model": TroubleTicket, "description": "Updated"}},
)
async def patch_trouble_ticket(
    id: str,
    principal: Readable,
    rt: Rt,
    patch: Annotated[TroubleTicketPatch, Body(media_type="application/merge-patch+json")],
) -> dict[str, Any]:
    async with rt.db.uow() as uow:
        complaint = await handlers.load(uow, id)
        if patch.model_dump(exclude_unset=True).keys() - {"note"}:
            # lifecycle, classification and references are the handling department's;
            # partners add notes
            access.check(complaint, id, principal, rt, "act")
        if complaint.status in ("closed", "cancelled"):
            shown = mapping.STATUS_TO_TMF[complaint.status]
            raise Problem(422, "Ticket is closed", f"{id} is {shown}; it cannot change")
        await _apply(uow, complaint, patch, principal.sub)
        await uow.commit()
    async with rt.db.uow() as uow:
        complaint, timeline = await load_with_timeline(uow, id)
        return to_tmf(complaint, timeline, principal)
