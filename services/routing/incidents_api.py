"""Emergency mode (应急预案, seed 000; seed 003 ch. 7) over HTTP: declaring an incident grades
it and informs leadership within the grade's deadline; matching complaints join its cluster
(the surge worker); closing it resolves every linked complaint with the resolution text."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from services.routing.models import Incident, SurgeCluster
from services.routing.schemas import CATEGORY
from services.routing.settings import RoutingSettings
from services.routing.staff_alerts import parse_shift_starts, staff_alert
from shared.auth import Principal, require_roles
from shared.db import UnitOfWork, utcnow
from shared.errors import PROBLEM_RESPONSES, Problem
from shared.events import IncidentDeclared, IncidentResolved
from shared.service import Runtime, runtime

router = APIRouter(prefix="/v1", tags=["incidents"], responses=PROBLEM_RESPONSES)
Staff = Annotated[
    Principal,
    Depends(
        require_roles("agent", "frontline", "room_manager", "centre_manager", "leadership", "ops")
    ),
]
Ops = Annotated[Principal, Depends(require_roles("ops", "centre_manager", "leadership"))]
Rt = Annotated[Runtime, Depends(runtime)]
IncidentId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Grade = Literal["general", "large", "major", "especially_major"]  # 一般/较大/重大/特别重大


class IncidentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200)
    category: CATEGORY
    area: str | None = Field(None, max_length=200, description="Absorb only complaints here")
    keywords: list[str] = Field(default_factory=list, max_length=50)
    grade: Grade = Field("general", description="一般 / 较大 / 重大 / 特别重大 (分级响应)")
    cause: str | None = Field(None, max_length=2000)


class IncidentClose(BaseModel):
    model_config = ConfigDict(extra="forbid")
    resolution: str = Field(
        min_length=1, max_length=2000, description="The result each linked customer is told"
    )


class IncidentRead(BaseModel):
    id: int
    title: str
    category: str
    area: str | None
    keywords: list[str]
    grade: str
    cause: str | None
    cluster_id: str | None
    declared_by: str
    declared_at: datetime
    closed_at: datetime | None
    closed_by: str | None
    resolution: str | None
    ticket_count: int = Field(description="Complaints linked (so far, or when it closed)")


def _key(incident: Incident) -> str:
    return f"INC{incident.id}"


async def _read(uow: UnitOfWork, incident: Incident) -> IncidentRead:
    read = IncidentRead.model_validate(incident, from_attributes=True)
    if incident.closed_at is None and incident.cluster_id:
        cluster = await uow.session.get(SurgeCluster, incident.cluster_id)
        read.ticket_count = cluster.count if cluster else 0
    return read


@router.post(
    "/incidents",
    status_code=201,
    response_model=IncidentRead,
    summary="Declare an incident: leadership is informed within the grade's deadline",
)
async def declare_incident(body: IncidentCreate, principal: Ops, rt: Rt) -> IncidentRead:
    settings: RoutingSettings = rt.settings  # type: ignore[assignment]
    now = utcnow()
    async with rt.db.uow() as uow:
        incident = Incident(
            **body.model_dump(), declared_by=principal.sub, declared_at=now, ticket_count=0
        )
        uow.session.add(incident)
        await uow.session.flush()
        uow.publish(
            IncidentDeclared(
                ticket_no=_key(incident),
                incident_id=incident.id,
                title=incident.title,
                grade=incident.grade,
                category=incident.category,
                area=incident.area,
                cause=incident.cause,
                declared_by=principal.sub,
                declared_at=now,
            )
        )
        hours = settings.incident_inform_hours.get(body.grade, 4)
        await staff_alert(
            uow,
            kind="incident_declared",
            key=f"{_key(incident)}:declared",
            ticket_no=_key(incident),
            cluster_id=None,
            scope=incident.title,
            departments=[],
            tickets=[],
            count=0,
            at=now,
            shift_starts=parse_shift_starts(settings.shift_starts),
            timezone=settings.surge_config().timezone,
            due_at=now + timedelta(hours=hours),
        )
        await uow.commit()
        return await _read(uow, incident)


@router.get("/incidents", response_model=list[IncidentRead], summary="Incidents")
async def list_incidents(_: Staff, rt: Rt) -> list[IncidentRead]:
    async with rt.db.uow() as uow:
        rows = (await uow.session.scalars(select(Incident).order_by(Incident.id.desc()))).all()
        return [await _read(uow, i) for i in rows]


@router.post(
    "/incidents/{incident_id}/close",
    response_model=IncidentRead,
    summary="Close: every linked complaint is resolved with the resolution text",
)
async def close_incident(
    incident_id: IncidentId, body: IncidentClose, principal: Ops, rt: Rt
) -> IncidentRead:
    """Once: closing again returns the closed incident and changes nothing."""
    async with rt.db.uow() as uow:
        incident = await uow.session.get(Incident, incident_id)
        if incident is None:
            raise Problem(404, "Not Found", f"no incident {incident_id}")
        if incident.closed_at is not None:
            return await _read(uow, incident)
        now = utcnow()
        cluster = (
            await uow.session.get(SurgeCluster, incident.cluster_id)
            if incident.cluster_id
            else None
        )
        tickets = list(cluster.tickets) if cluster else []
        if cluster is not None and cluster.resolved_at is None:
            # resolved here, not by a SurgeResolved: the customers hear the result once,
            # from their own ticket's resolution
            cluster.state, cluster.resolved_at = "resolved", now
            cluster.resolution = body.resolution
        incident.closed_at, incident.closed_by = now, principal.sub
        incident.resolution, incident.ticket_count = body.resolution, len(tickets)
        uow.publish(
            IncidentResolved(
                ticket_no=_key(incident),
                incident_id=incident.id,
                resolution=body.resolution,
                tickets=tickets,
                resolved_by=principal.sub,
                resolved_at=now,
            )
        )
        await uow.commit()
        return await _read(uow, incident)
