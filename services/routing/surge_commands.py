"""Ops and department commands on a same-content surge: `async def verb_noun(cmd, uow)`.

Merge, split and resolve are appended to the surge signal log (the surge worker applies
them in order); the first answer (初步答复) and the cluster's temporary plan (临时方案)
are recorded at once. Each raises domain exceptions (`shared.errors`) and never commits:
routes run them with `shared.usecase.run`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.routing import majors
from services.routing.models import SurgeCluster, SurgeSignal
from shared.db import UnitOfWork, utcnow
from shared.errors import Conflict, Invalid, NotAllowed, NotFound


async def _cluster(uow: UnitOfWork, cluster_id: str) -> SurgeCluster:
    cluster = await uow.session.get(SurgeCluster, cluster_id)
    if cluster is None:
        raise NotFound(f"no surge {cluster_id}")
    return cluster


def _active(cluster: SurgeCluster) -> SurgeCluster:
    if cluster.state != "active":
        raise Conflict(title="Surge not active", detail=f"{cluster.id} is {cluster.state}")
    return cluster


@dataclass(frozen=True)
class SignalSurge:
    """Ask the surge worker to merge `other` in, split `tickets` off, or resolve."""

    cluster_id: str
    kind: str
    """merge, split or resolve"""
    payload: dict[str, Any]


async def signal_surge(cmd: SignalSurge, uow: UnitOfWork) -> None:
    cluster = _active(await _cluster(uow, cmd.cluster_id))
    if cmd.kind == "merge":
        other = await uow.session.get(SurgeCluster, str(cmd.payload["other"]))
        if other is None or other.state != "active" or other.id == cluster.id:
            raise Invalid("other", "must be another active cluster")
        if other.category != cluster.category:
            raise Invalid("other", "must be of the same category")
    if cmd.kind == "split":
        stray = set(cmd.payload["tickets"]) - set(cluster.tickets)
        if stray:
            raise Invalid("tickets", f"not in the cluster: {', '.join(sorted(stray))}")
        if len(set(cmd.payload["tickets"])) >= len(cluster.tickets):
            raise Invalid("tickets", "must leave at least one ticket behind")
    uow.session.add(
        SurgeSignal(kind=cmd.kind, cluster_id=cluster.id, payload=cmd.payload, at=utcnow())
    )


@dataclass(frozen=True)
class AnswerSurge:
    """The responsible department's first answer (初步答复): ends the 1-hour clock."""

    cluster_id: str
    text: str
    author: str
    department: str | None
    any_department: bool = False
    """ops and leadership may answer for any department"""


@dataclass(frozen=True)
class Answered:
    cluster: SurgeCluster
    repeated: bool
    """The same author gave the same answer before: nothing changed."""


async def answer_surge(cmd: AnswerSurge, uow: UnitOfWork) -> Answered:
    """Repeating the same answer returns it again; a different second answer is a conflict."""
    cluster = await _cluster(uow, cmd.cluster_id)
    if cluster.answer_text is not None:
        if cluster.answer_text == cmd.text and cluster.answered_by == cmd.author:
            return Answered(cluster, repeated=True)
        by = cluster.answered_by
        raise Conflict(title="Already answered", detail=f"{cluster.id} was answered by {by}")
    _active(cluster)
    if (
        cmd.department
        and cluster.departments
        and cmd.department not in cluster.departments
        and not cmd.any_department
    ):
        raise NotAllowed("only the responsible department answers this surge")
    now = utcnow()
    cluster.answer_text, cluster.answered_by = cmd.text, cmd.author
    cluster.answered_at = cluster.answered_at or now
    uow.session.add(
        SurgeSignal(
            kind="answer",
            cluster_id=cluster.id,
            payload={"text": cmd.text, "by": cmd.author},
            at=now,
        )
    )
    return Answered(cluster, repeated=False)


@dataclass(frozen=True)
class RecordClusterPlan:
    """A major cluster's temporary plan (临时方案, within 1 hour): ends its clock."""

    cluster_id: str
    author: str
    plan: str


async def record_cluster_plan(cmd: RecordClusterPlan, uow: UnitOfWork) -> SurgeCluster:
    return await majors.record_cluster_plan(uow, cmd.cluster_id, cmd.author, cmd.plan, utcnow())
