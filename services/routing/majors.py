"""A same-content cluster that becomes major (seed 004 §3.3 (2)/(6), §3.5): its tickets are
supervised one by one, but the department hears of it once and owes one temporary plan
within the hour (a clock per cluster, not per ticket)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update

from services.routing.models import SurgeCluster
from services.routing.settings import RoutingSettings
from services.routing.staff_alerts import parse_shift_starts, staff_alert
from shared.db import UnitOfWork
from shared.errors import Conflict, NotFound
from shared.scheduler import claim


async def start_cluster_plan_clock(
    uow: UnitOfWork, settings: RoutingSettings, cluster_id: str, ticket_no: str, now: datetime
) -> bool:
    """The first major ticket of a cluster starts its 1-hour temporary-plan clock and asks
    the department for the plan; later ones (any replica) lose the compare-and-set."""
    due = now + timedelta(minutes=settings.temporary_plan_within_minutes)
    won = await claim(
        uow,
        update(SurgeCluster)
        .where(SurgeCluster.id == cluster_id, SurgeCluster.major_noticed_at.is_(None))
        .values(major_noticed_at=now, temporary_plan_due_at=due)
        .execution_options(synchronize_session=False),
    )
    if won:
        await _alert(uow, settings, cluster_id, "temporary_plan", ticket_no, now, due)
    return won


async def record_cluster_plan(
    uow: UnitOfWork, cluster_id: str, author: str, text: str, now: datetime
) -> SurgeCluster:
    """The responsible department's temporary plan (临时方案) for the whole cluster."""
    cluster = await uow.session.get(SurgeCluster, cluster_id)
    if cluster is None:
        raise NotFound(f"no surge {cluster_id}")
    if cluster.temporary_plan_at is not None:
        raise Conflict(title="Plan already given", detail=f"{cluster_id} has a temporary plan")
    cluster.temporary_plan_at, cluster.temporary_plan_due_at = now, None
    cluster.temporary_plan_text, cluster.temporary_plan_by = text, author
    return cluster


async def fire_cluster_plan_missed(
    uow: UnitOfWork, settings: RoutingSettings, cluster_id: str, now: datetime
) -> bool:
    """No plan within the hour: the department manager is alerted, once."""
    cluster = await uow.session.get(SurgeCluster, cluster_id)
    due = cluster.temporary_plan_due_at if cluster else None
    if cluster is None or due is None or due > now:
        return False
    won = await claim(
        uow,
        update(SurgeCluster)
        .where(SurgeCluster.id == cluster_id, SurgeCluster.temporary_plan_due_at == due)
        .values(temporary_plan_due_at=None)
        .execution_options(synchronize_session=False),
    )
    if won:
        ticket = cluster.tickets[0] if cluster.tickets else cluster_id
        await _alert(uow, settings, cluster_id, "temporary_plan_overdue", ticket, now, due)
    return won


async def _alert(
    uow: UnitOfWork,
    settings: RoutingSettings,
    cluster_id: str,
    kind: str,
    ticket_no: str,
    now: datetime,
    due: datetime,
) -> None:
    cluster = await uow.session.get(SurgeCluster, cluster_id)
    tickets = list(cluster.tickets) if cluster else [ticket_no]
    await staff_alert(
        uow,
        kind=kind,
        key=f"{cluster_id}:{kind}",
        ticket_no=ticket_no,
        cluster_id=cluster_id,
        scope=None,
        departments=list(cluster.departments) if cluster else [],
        tickets=tickets,
        count=len(tickets),
        at=now,
        shift_starts=parse_shift_starts(settings.shift_starts),
        timezone=settings.surge_config().timezone,
        due_at=due,
    )
