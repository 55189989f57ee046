"""TMF621 Trouble Ticket v4: a TM Forum view of the same complaints, the same lifecycle and
the same store (no second system).

Mapping (ours → TMF621):
- `id` = `ticket_no`; `ticketType` = our category; `externalId` = the partner's reference;
  `channel.name` = our channel; `relatedParty[role=customer].id` = the MSISDN (masked unless
  the caller's role needs it); `note` = our append-only notes; `statusChange` = our history;
  `expectedResolutionDate` = the resolution clock's deadline.
- `severity` is our judgement (urgent → critical, major → major, normal → minor). What a
  partner posts as `severity` is recorded as `reportedSeverity`; our rules decide.
- status: received/accepted → acknowledged; in_progress/replied/reopened → inProgress;
  pending → pending; resolved → resolved; closed → closed; cancelled → cancelled.
  PATCHing `status` runs our lifecycle commands (acknowledged → accept; inProgress → accept
  and/or start, or resume; pending/held → hold; resolved → resolve; closed → the customer's
  satisfied feedback; cancelled/rejected → cancel), so an illegal move is 409 and any change
  to a closed or cancelled ticket is 422.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import func, select

from services.intake import access, domain, handlers
from services.intake.lifecycle import Command
from services.intake.models import Complaint, TimelineEntry
from services.intake.schemas import ComplaintCreate, Source
from services.intake.settings import IntakeSettings
from shared.auth import Principal, require_roles
from shared.db import UnitOfWork
from shared.errors import PROBLEM_RESPONSES, Problem, field_error
from shared.phone import mask_msisdn
from shared.service import Runtime, runtime

BASE = "/tmf-api/troubleTicket/v4/troubleTicket"
router = APIRouter(prefix=BASE, tags=["TMF621 trouble ticket"], responses=PROBLEM_RESPONSES)
TMF_ROLES = ("partner", "agent", "frontline", "ops")
Caller = Annotated[Principal, Depends(require_roles(*TMF_ROLES))]
Readable = Annotated[Principal, Depends(access.ticket_access("read", TMF_ROLES, "id"))]
Rt = Annotated[Runtime, Depends(runtime)]

TmfStatus = Literal[
    "acknowledged", "inProgress", "pending", "held", "resolved", "closed", "cancelled", "rejected"
]
TO_TMF: dict[str, TmfStatus] = {
    "received": "acknowledged",
    "accepted": "acknowledged",
    "in_progress": "inProgress",
    "replied": "inProgress",
    "reopened": "inProgress",
    "pending": "pending",
    "resolved": "resolved",
    "closed": "closed",
    "cancelled": "cancelled",
}
FROM_TMF: dict[str, list[str]] = {}
for ours, theirs in TO_TMF.items():
    FROM_TMF.setdefault(theirs, []).append(ours)
SEVERITY_TO_TMF = {"urgent": "critical", "major": "major", "normal": "minor"}
SEVERITY_FROM_TMF = {v: k for k, v in SEVERITY_TO_TMF.items()}


class ChannelRef(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    id: str | None = None
    name: str | None = None
    type_: str | None = Field(None, alias="@type")


class RelatedParty(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    id: str
    role: str
    name: str | None = None
    referred_type: str | None = Field(None, alias="@referredType")


class TmfNote(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    id: str | None = None
    author: str | None = None
    date: datetime | None = None
    text: str = Field(min_length=1, max_length=4000)


class TmfStatusChange(BaseModel):
    status: str
    changeDate: datetime
    changeReason: str | None = None


class TroubleTicketCreate(BaseModel):
    """POST body (TMF621 TroubleTicket_Create)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    description: str = Field(min_length=1, max_length=4000)
    severity: str = Field(min_length=1, max_length=32)
    ticketType: str = Field(min_length=1, max_length=32)
    name: str | None = Field(None, max_length=200)
    externalId: str | None = Field(None, max_length=100)
    channel: ChannelRef | None = None
    relatedParty: list[RelatedParty] = Field(default_factory=list, max_length=20)
    note: list[TmfNote] = Field(default_factory=list, max_length=50)


class TroubleTicketPatch(BaseModel):
    """PATCH body (JSON merge patch): status, statusChangeReason, ticketType, new notes."""

    model_config = ConfigDict(extra="forbid")
    status: TmfStatus | None = None
    statusChangeReason: str | None = Field(None, max_length=500)
    ticketType: Literal[domain.CATEGORIES] | None = None  # type: ignore[valid-type]
    note: list[TmfNote] | None = Field(None, max_length=200)


class TroubleTicket(BaseModel):
    """A complaint as TMF621 shows it (every field but id/href is optional under `fields=`)."""

    model_config = ConfigDict(populate_by_name=True)
    id: str
    href: str
    type_: str | None = Field("TroubleTicket", alias="@type")
    name: str | None = None
    description: str | None = None
    severity: str | None = None
    reportedSeverity: str | None = None
    ticketType: str | None = None
    status: str | None = None
    statusChangeDate: datetime | None = None
    statusChangeReason: str | None = None
    creationDate: datetime | None = None
    lastUpdate: datetime | None = None
    expectedResolutionDate: datetime | None = None
    resolutionDate: datetime | None = None
    externalId: str | None = None
    channel: ChannelRef | None = None
    relatedParty: list[RelatedParty] | None = None
    note: list[TmfNote] | None = None
    statusChange: list[TmfStatusChange] | None = None


def _to_tmf(c: Complaint, timeline: list[TimelineEntry], principal: Principal) -> TroubleTicket:
    full = principal.has_any(*access.RULES.full_msisdn_roles)
    changes = [t for t in timeline if t.kind == "status"]
    last = changes[-1] if changes else None
    resolution_due = next((s.get("due_at") for s in c.sla if s.get("name") == "resolution"), None)
    resolved_at = (c.resolution or {}).get("at")
    return TroubleTicket(
        id=c.ticket_no,
        href=f"{BASE}/{c.ticket_no}",
        name=c.details.get("tmf_name"),
        description=c.description,
        severity=SEVERITY_TO_TMF.get(c.severity, c.severity),
        reportedSeverity=c.details.get("reported_severity"),
        ticketType=c.category,
        status=TO_TMF[c.status],
        statusChangeDate=last.at if last else c.received_at,
        statusChangeReason=last.detail.get("reason") if last else None,
        creationDate=c.received_at,
        lastUpdate=c.updated_at,
        expectedResolutionDate=resolution_due,
        resolutionDate=resolved_at,
        externalId=c.source_external_id,
        channel=ChannelRef(id=c.channel, name=c.channel, type_="ChannelRef"),
        relatedParty=[
            RelatedParty(
                id=c.msisdn if full else (mask_msisdn(c.msisdn) or ""),
                role="customer",
                name=c.details.get("customer_name") if full else None,
                referred_type="Individual",
            )
        ],
        note=[
            TmfNote(id=str(t.id), author=t.actor, date=t.at, text=t.detail["text"])
            for t in timeline
            if t.kind == "note"
        ],
        statusChange=[
            TmfStatusChange(
                status=TO_TMF[t.detail["to"]], changeDate=t.at, changeReason=t.detail.get("reason")
            )
            for t in changes
        ],
    )


def _select_fields(ticket: TroubleTicket, fields: str | None) -> dict[str, Any]:
    body = ticket.model_dump(mode="json", by_alias=True, exclude_none=True)
    if not fields:
        return body
    wanted = {f.strip() for f in fields.split(",") if f.strip()} | {"id", "href"}
    unknown = wanted - set(TroubleTicket.model_fields) - {"@type"}
    known_aliases = {f.alias for f in TroubleTicket.model_fields.values() if f.alias}
    if unknown - known_aliases:
        raise field_error("fields", f"unknown attributes: {', '.join(sorted(unknown))}")
    return {k: v for k, v in body.items() if k in wanted}


async def _load_with_timeline(
    uow: UnitOfWork, ticket_no: str
) -> tuple[Complaint, list[TimelineEntry]]:
    complaint = await handlers.load(uow, ticket_no)
    timeline = (
        await uow.session.scalars(
            select(TimelineEntry)
            .where(TimelineEntry.complaint_id == complaint.id)
            .order_by(TimelineEntry.id)
        )
    ).all()
    return complaint, list(timeline)


def _customer_msisdn(body: TroubleTicketCreate) -> str:
    for party in body.relatedParty:
        if party.role.lower() == "customer":
            return party.id
    raise field_error(
        "relatedParty", "a party with role 'customer' (its id the MSISDN) is required"
    )


@router.post("", status_code=201, summary="Create a trouble ticket (registers a complaint)")
async def create_trouble_ticket(
    body: TroubleTicketCreate, principal: Caller, rt: Rt, response: Response
) -> dict[str, Any]:
    settings: IntakeSettings = rt.settings  # type: ignore[assignment]
    channel = body.channel.name if body.channel and body.channel.name else "web"
    hint = body.ticketType if body.ticketType in domain.CATEGORIES else None
    try:
        data = ComplaintCreate(
            channel=channel if channel in domain.CHANNELS else "web",
            msisdn=_customer_msisdn(body),
            description=body.description,
            category=hint,
            customer_name=next(
                (p.name for p in body.relatedParty if p.role.lower() == "customer"), None
            ),
            source=Source(org=access.partner_id(principal), external_id=body.externalId)
            if body.externalId
            else None,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        name = {"msisdn": "relatedParty"}.get(str(first["loc"][0]), str(first["loc"][0]))
        raise field_error(name, first["msg"]) from exc
    cmd = handlers.RegisterComplaint(
        data=data,
        principal=principal,
        accepting_department=principal.dept or settings.default_department,
    )
    async with rt.db.uow() as uow:
        existing = (
            await handlers.find_by_source(uow, access.partner_id(principal), body.externalId)
            if body.externalId
            else None
        )
        if existing is None:
            complaint = await handlers.register_complaint(cmd, uow=uow)
            complaint.details = {
                **complaint.details,
                "reported_severity": body.severity,
                **({"tmf_name": body.name} if body.name else {}),
                **({"tmf_ticket_type": body.ticketType} if hint is None else {}),
            }
            for note in body.note:
                await handlers.add_note(uow, complaint.ticket_no, principal.sub, note.text)
            ticket_no = complaint.ticket_no
            await uow.commit()
        else:
            ticket_no = existing.ticket_no
            response.status_code = 200
    response.headers["Location"] = f"{BASE}/{ticket_no}"
    async with rt.db.uow() as uow:
        complaint, timeline = await _load_with_timeline(uow, ticket_no)
        return _select_fields(_to_tmf(complaint, timeline, principal), None)


@router.get("", summary="List trouble tickets (attribute filters, fields, offset/limit)")
async def list_trouble_tickets(
    principal: Caller,
    rt: Rt,
    response: Response,
    fields: str | None = Query(None, max_length=500),
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    status: TmfStatus | None = None,
    severity: Literal["critical", "major", "minor"] | None = None,
    ticketType: Literal[domain.CATEGORIES] | None = None,  # type: ignore[valid-type]
    externalId: Annotated[str | None, Query(max_length=100)] = None,
) -> list[dict[str, Any]]:
    query = select(Complaint).where(access.list_filter(principal, rt.settings))
    if status is not None:
        query = query.where(Complaint.status.in_(FROM_TMF.get(status, [])))
    if severity is not None:
        query = query.where(Complaint.severity == SEVERITY_FROM_TMF[severity])
    if ticketType is not None:
        query = query.where(Complaint.category == ticketType)
    if externalId is not None:
        query = query.where(Complaint.source_external_id == externalId)
    async with rt.db.sessions() as session:
        total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = list(
            (
                await session.scalars(
                    query.order_by(Complaint.id.desc()).offset(offset).limit(limit)
                )
            ).all()
        )
        ids = [c.id for c in rows]
        entries = (
            await session.scalars(
                select(TimelineEntry)
                .where(TimelineEntry.complaint_id.in_(ids))
                .order_by(TimelineEntry.id)
            )
        ).all()
    by_complaint: dict[int, list[TimelineEntry]] = {}
    for e in entries:
        by_complaint.setdefault(e.complaint_id, []).append(e)
    response.headers["X-Total-Count"] = str(total)
    response.headers["X-Result-Count"] = str(len(rows))
    return [_select_fields(_to_tmf(c, by_complaint.get(c.id, []), principal), fields) for c in rows]


@router.get("/{id}", summary="One trouble ticket")
async def get_trouble_ticket(
    id: str,
    principal: Readable,
    rt: Rt,
    fields: str | None = Query(None, max_length=500),
) -> dict[str, Any]:
    async with rt.db.uow() as uow:
        complaint, timeline = await _load_with_timeline(uow, id)
        return _select_fields(_to_tmf(complaint, timeline, principal), fields)


def _commands_towards(target: TmfStatus, status: str) -> list[Command]:
    """The lifecycle commands that take a complaint in `status` to TMF `target`."""
    if TO_TMF[status] == target:
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


@router.patch("/{id}", summary="Update a trouble ticket (JSON merge patch)")
async def patch_trouble_ticket(
    id: str,
    principal: Readable,
    rt: Rt,
    patch: Annotated[TroubleTicketPatch, Body(media_type="application/merge-patch+json")],
) -> dict[str, Any]:
    async with rt.db.uow() as uow:
        complaint, timeline = await _load_with_timeline(uow, id)
        if patch.status is not None or patch.ticketType is not None:
            # lifecycle and classification are the handling department's; partners add notes
            access.check(complaint, id, principal, rt, "act")
        if complaint.status in ("closed", "cancelled"):
            raise Problem(
                422, "Ticket is closed", f"{id} is {TO_TMF[complaint.status]}; it cannot change"
            )
        reason = patch.statusChangeReason
        if patch.note is not None:
            known = {t.detail["text"] for t in timeline if t.kind == "note"}
            for note in patch.note:
                if note.id is None and note.text not in known:
                    await handlers.add_note(uow, id, principal.sub, note.text)
        if patch.ticketType is not None and patch.ticketType != complaint.category:
            await handlers.reclassify(
                uow, id, patch.ticketType, principal.sub, reason or "changed via TMF621"
            )
        if patch.status is not None:
            for command in _commands_towards(patch.status, complaint.status):
                detail: dict[str, object] = {}
                if command == "resolve":
                    detail = {"resolution": reason or "resolved", "responsibility": "none"}
                await handlers.transition(
                    handlers.Transition(
                        ticket_no=id,
                        command=command,
                        actor=principal.sub,
                        reason=reason,
                        detail=detail,
                        satisfied=True if command == "feedback" else None,
                    ),
                    uow=uow,
                )
        await uow.commit()
    async with rt.db.uow() as uow:
        complaint, timeline = await _load_with_timeline(uow, id)
        return _select_fields(_to_tmf(complaint, timeline, principal), None)
