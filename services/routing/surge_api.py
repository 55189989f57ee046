"""Same-content surges (快速处理机制) and incidents (应急预案) over HTTP.

Reads come from the cluster projection; ops commands (merge, split, resolve) are appended to
the surge signal log and applied by the surge worker in order, so they answer 202 Accepted
with the cluster's URL."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from services.routing.models import (
    SurgeAlertLog,
    SurgeCluster,
    SurgeCorrection,
)
from services.routing.surge_commands import (
    AnswerSurge,
    RecordClusterPlan,
    SignalSurge,
    answer_surge,
    record_cluster_plan,
    signal_surge,
)
from shared.auth import Principal, require_roles
from shared.errors import PROBLEM_RESPONSES, NotFound
from shared.service import Runtime, runtime
from shared.usecase import run

router = APIRouter(tags=["surges"], responses=PROBLEM_RESPONSES)
Staff = Annotated[
    Principal,
    Depends(
        require_roles("agent", "frontline", "room_manager", "centre_manager", "leadership", "ops")
    ),
]
Ops = Annotated[Principal, Depends(require_roles("ops", "centre_manager", "leadership"))]
Rt = Annotated[Runtime, Depends(runtime)]


class AlertRead(BaseModel):
    rule: str
    scope: str
    notify_role: str
    count: int
    raised_at: datetime


class MemberRead(BaseModel):
    """Why one complaint is in the cluster: what it shares with the members before it."""

    ticket_no: str
    reasons: list[str] = Field(
        description="place:/district:/symptom:/product:/similarity:,"
        " ops_merge:/ops_split:<cluster>;"
        " empty for the complaint that started the cluster"
    )
    place: str | None = None
    symptom: str | None = None
    product: str | None = None
    similarity: float | None = Field(None, description="MinHash Jaccard estimate, 0..1")
    by_ops: str | None = Field(None, description="merge or split, when ops moved it here")


class CorrectionRead(BaseModel):
    kind: str = Field(description="alias (name is value from now on) | distinct (two places)")
    name: str
    value: str
    cluster_id: str
    created_at: datetime
    tsv: str | None = Field(None, description="The row for places.tsv / products.tsv (aliases)")


class SurgeRead(BaseModel):
    id: str
    category: str
    state: str = Field(description="active | resolved | merged | expired")
    level: str | None = Field(description="The latest alert rule raised")
    count: int
    count_before_answer: int = Field(description="Complaints from discovery to first answer")
    tickets: list[str]
    departments: list[str]
    major: bool
    first_seen_at: datetime
    discovered_at: datetime | None
    answer_due_at: datetime | None
    answered_at: datetime | None
    time_to_first_answer_seconds: float | None
    incident_id: int | None
    resolution: str | None
    resolved_at: datetime | None
    answer_text: str | None = Field(None, description="The department's first answer (初步答复)")
    answered_by: str | None = None
    temporary_plan_due_at: datetime | None = Field(
        None, description="Major: the responsible department's temporary plan is due (1 hour)"
    )
    temporary_plan_at: datetime | None = None
    temporary_plan_text: str | None = None
    temporary_plan_by: str | None = None
    alerts: list[AlertRead] = Field(default_factory=list)
    members: list[MemberRead] = Field(default_factory=list, description="Why each one joined")
    reasons: dict[str, int] = Field(default_factory=dict, description="How often each reason")


class MergeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    other: str = Field(min_length=1, max_length=64, description="The cluster to fold into this one")


class SplitBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tickets: list[str] = Field(min_length=1, max_length=1000)


class ResolveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    resolution: str = Field(min_length=1, max_length=2000)


class FirstAnswerBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(
        min_length=1, max_length=2000, description="The department's first answer (初步答复)"
    )


class FirstAnswerRead(BaseModel):
    cluster_id: str
    text: str
    answered_by: str
    answered_at: datetime


def _member(raw: dict[str, Any]) -> MemberRead:
    reasons = [str(r) for r in raw.get("reasons", [])]
    first: dict[str, str] = {}
    for r in reasons:
        kind, _, value = r.partition(":")
        first.setdefault(kind, value)
    similarity = first.get("similarity")
    ops = "merge" if "ops_merge" in first else "split" if "ops_split" in first else None
    return MemberRead(
        ticket_no=str(raw["ticket_no"]), reasons=reasons,
        place=first.get("place") or first.get("district"), symptom=first.get("symptom"),
        product=first.get("product"), similarity=float(similarity) if similarity else None,
        by_ops=ops,
    )  # fmt: skip


def _correction(row: SurgeCorrection) -> CorrectionRead:
    tsv = None
    if row.kind == "alias":
        level = "place" if row.name.startswith("p:") else None
        tsv = "\t".join([row.name[2:], row.value[2:], *([level] if level else [])])
    return CorrectionRead(
        kind=row.kind, name=row.name, value=row.value, cluster_id=row.cluster_id,
        created_at=row.created_at, tsv=tsv,
    )  # fmt: skip


def _read(c: SurgeCluster, alerts: list[SurgeAlertLog] | None = None) -> SurgeRead:
    answered = (
        (c.answered_at - c.discovered_at).total_seconds()
        if c.answered_at and c.discovered_at
        else None
    )
    return SurgeRead(
        **{
            k: getattr(c, k)
            for k in SurgeRead.model_fields
            if hasattr(c, k) and k not in ("alerts", "members", "reasons")
        },
        time_to_first_answer_seconds=answered,
        alerts=[AlertRead.model_validate(a, from_attributes=True) for a in alerts or []],
        members=[_member(m) for m in c.members or []],
        reasons=c.reasons or {},
    )


@router.get("/v1/surges", response_model=list[SurgeRead], summary="Same-content clusters")
async def list_surges(
    _: Staff,
    rt: Rt,
    state: str | None = Query(None, pattern="^(active|resolved|merged|expired)$"),
    min_count: Annotated[int, Query(ge=1, le=1_000_000)] = 2,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[SurgeRead]:
    query = select(SurgeCluster).where(SurgeCluster.count >= min_count)
    if state:
        query = query.where(SurgeCluster.state == state)
    async with rt.db.sessions() as s:
        rows = (await s.scalars(query.order_by(SurgeCluster.count.desc()).limit(limit))).all()
    return [_read(c) for c in rows]


@router.get(
    "/v1/surges/corrections",
    response_model=list[CorrectionRead],
    summary="What ops merges and splits taught the detector (aliases, distinct places)",
)
async def list_corrections(_: Staff, rt: Rt) -> list[CorrectionRead]:
    async with rt.db.sessions() as s:
        rows = (await s.scalars(select(SurgeCorrection).order_by(SurgeCorrection.created_at))).all()
    return [_correction(r) for r in rows]


@router.get("/v1/surges/{cluster_id}", response_model=SurgeRead, summary="One cluster")
async def get_surge(cluster_id: str, _: Staff, rt: Rt) -> SurgeRead:
    async with rt.db.sessions() as s:
        c = await s.get(SurgeCluster, cluster_id)
        if c is None:
            raise NotFound(f"no surge {cluster_id}")
        alerts = (
            await s.scalars(
                select(SurgeAlertLog)
                .where(SurgeAlertLog.cluster_id == cluster_id)
                .order_by(SurgeAlertLog.raised_at)
            )
        ).all()
    return _read(c, list(alerts))


async def _signal(
    rt: Runtime, response: Response, cluster_id: str, kind: str, **payload: Any
) -> None:
    await run(rt.db, signal_surge, SignalSurge(cluster_id, kind, payload), what=cluster_id)
    response.headers["Location"] = f"/v1/surges/{cluster_id}"


@router.post(
    "/v1/surges/{cluster_id}/merge", status_code=202, summary="Merge a cluster into this one"
)
async def merge(cluster_id: str, body: MergeBody, _: Ops, rt: Rt, response: Response) -> None:
    await _signal(rt, response, cluster_id, "merge", other=body.other)


@router.post("/v1/surges/{cluster_id}/split", status_code=202, summary="Split tickets off")
async def split(cluster_id: str, body: SplitBody, _: Ops, rt: Rt, response: Response) -> None:
    await _signal(rt, response, cluster_id, "split", tickets=body.tickets)


@router.post(
    "/v1/surges/{cluster_id}/resolve",
    status_code=202,
    summary="Resolve: every affected customer is told once",
)
async def resolve(cluster_id: str, body: ResolveBody, _: Ops, rt: Rt, response: Response) -> None:
    await _signal(rt, response, cluster_id, "resolve", resolution=body.resolution)


@router.post(
    "/v1/surges/{cluster_id}/first-answer",
    status_code=202,
    response_model=FirstAnswerRead,
    summary="The responsible department's first answer (初步答复): ends the 1-hour clock",
)
async def first_answer(
    cluster_id: str, body: FirstAnswerBody, principal: Staff, rt: Rt, response: Response
) -> FirstAnswerRead:
    """Counting towards the 50/200 levels runs from discovery to this answer (seed 004 §3.5);
    repeating the same answer returns it again, a different second answer is a conflict."""
    cmd = AnswerSurge(
        cluster_id,
        body.text,
        principal.sub,
        principal.dept,
        any_department=principal.has_any("ops", "leadership"),
    )
    answered = await run(rt.db, answer_surge, cmd, what=cluster_id)
    if answered.repeated:
        response.status_code = 200
    else:
        response.headers["Location"] = f"/v1/surges/{cluster_id}"
    return _answer(answered.cluster)


@router.post(
    "/v1/surges/{cluster_id}/temporary-plan",
    response_model=SurgeRead,
    summary="A major cluster's temporary plan (临时方案, within 1 hour): ends its clock",
)
async def temporary_plan(
    cluster_id: str, body: FirstAnswerBody, principal: Staff, rt: Rt
) -> SurgeRead:
    cmd = RecordClusterPlan(cluster_id, principal.sub, body.text)
    return _read(await run(rt.db, record_cluster_plan, cmd, what=cluster_id))


def _answer(c: SurgeCluster) -> FirstAnswerRead:
    assert c.answer_text is not None and c.answered_by is not None and c.answered_at is not None
    return FirstAnswerRead(
        cluster_id=c.id, text=c.answer_text, answered_by=c.answered_by, answered_at=c.answered_at
    )
