"""The surge worker: one replica (the lease holder) applies the surge signal log to the
in-memory detector and keeps the cluster projection, alerts and events in step.

Consumers on any replica append signals (a complaint to observe once classified, a first
answer) and the API appends ops commands (merge, split, resolve); the worker applies them
in `seq` order. Each batch commits the projection, the alert log, the outbox events and the
cursor together, with a compare-and-set on the cursor, so a batch is applied once even if
two workers overlap at a lease hand-over. A worker that starts (or loses a race) rebuilds
the detector by replaying the signals still inside the window, silently.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from services.routing import surge
from services.routing.models import (
    Assignment,
    Incident,
    SurgeAlertLog,
    SurgeCluster,
    SurgeCorrection,
    SurgeCursor,
    SurgeInput,
    SurgeSignal,
)
from services.routing.staff_alerts import staff_alert
from shared.db import Database, UnitOfWork, utcnow
from shared.events import SurgeAlertRaised, SurgeResolved, TicketMarkedMajor

log = logging.getLogger(__name__)
CURSOR = "surge"


@dataclass
class _Batch:
    """What applying some signals changed, to be written in one transaction."""

    alerts: list[surge.Alert] = field(default_factory=list)
    newly_major: dict[str, str] = field(default_factory=dict)  # ticket -> cluster
    touched: set[str] = field(default_factory=set)
    gone: dict[str, str] = field(default_factory=dict)  # cluster -> merged | expired
    resolved: list[tuple[str, str, datetime]] = field(default_factory=list)
    incident_clusters: dict[int, str] = field(default_factory=dict)


class SurgeWorker:
    def __init__(self, config: surge.SurgeConfig, *, lease_s: float = 10.0, batch: int = 200):
        self.config = config
        self.lease = timedelta(seconds=lease_s)
        self.batch = batch
        self.me = f"routing-{uuid.uuid4().hex[:12]}"
        self.detector: surge.SurgeDetector | None = None
        self.last_seq = 0
        self._lease_until: datetime | None = None
        """Until when this worker's lease is known to be held (renewed past its half)."""

    # --- lease ----------------------------------------------------------------------------
    async def _hold_lease(self, db: Database, now: datetime) -> bool:
        if self._lease_until is not None and self._lease_until - now > self.lease / 2:
            return True  # nobody can take it before it expires: no write (and no commit)
        self._lease_until = None
        async with db.uow() as uow:
            row = await uow.session.get(SurgeCursor, CURSOR)
            if row is None:
                insert = (postgresql.insert if _is_pg(db) else sqlite.insert)(SurgeCursor)
                await uow.session.execute(
                    insert.values(name=CURSOR, last_seq=0).on_conflict_do_nothing()
                )
            won = await uow.session.execute(
                update(SurgeCursor)
                .where(
                    SurgeCursor.name == CURSOR,
                    (SurgeCursor.holder == self.me)
                    | SurgeCursor.holder.is_(None)
                    | (SurgeCursor.lease_until < now),
                )
                .values(holder=self.me, lease_until=now + self.lease)
                .execution_options(synchronize_session=False)
            )
            await uow.commit()
        if won.rowcount != 1:  # type: ignore[attr-defined]
            return False
        self._lease_until = now + self.lease
        return True

    # --- the loop -------------------------------------------------------------------------
    async def tick(self, db: Database) -> int:
        now = utcnow()
        if not await self._hold_lease(db, now):
            self.detector = None
            return 0
        if self.detector is None:
            await self._rebuild(db, now)
        async with db.sessions() as s:
            signals = list(
                (
                    await s.scalars(
                        select(SurgeSignal)
                        .where(SurgeSignal.seq > self.last_seq)
                        .order_by(SurgeSignal.seq)
                        .limit(self.batch)
                    )
                ).all()
            )
            inputs = await _inputs(s, signals)
            incidents = list(
                (await s.scalars(select(Incident).where(Incident.closed_at.is_(None)))).all()
            )
        batch = _Batch()
        assert self.detector is not None
        for signal in signals:
            self._apply(signal, inputs, incidents, batch)
        batch.alerts.extend(self.detector.overdue(now))
        if not signals and not batch.alerts:
            return 0  # nothing read, nothing due: no transaction
        try:
            applied = await self._commit(db, signals, batch, now)
        except Exception:
            self.detector = None  # memory and database may disagree now: rebuild
            self._lease_until = None
            raise
        if not applied:
            self.detector = None
            self._lease_until = None
            return 0
        return len(signals)

    def _apply(
        self,
        signal: SurgeSignal,
        inputs: dict[str, SurgeInput],
        incidents: list[Incident],
        batch: _Batch,
    ) -> None:
        detector = self.detector
        assert detector is not None
        try:
            obs: surge.Observation | None = None
            if signal.kind == "observe" and signal.ticket_no in inputs:
                src = inputs[signal.ticket_no]
                complaint = surge.Complaint(
                    ticket_no=src.ticket_no,
                    text=src.text,
                    category=signal.payload["category"],
                    received_at=src.received_at,
                    area=src.location,
                    desk_id=src.desk_id,
                    store_id=src.store_id,
                    over_level=src.over_level,
                )
                obs = detector.observe(complaint)
                if obs.cluster_id and not obs.duplicate:
                    obs = self._absorb(complaint, obs, incidents, batch) or obs
            elif signal.kind == "answer" and signal.cluster_id:
                detector.record_first_answer(signal.cluster_id, signal.at)  # the command
                batch.touched.add(signal.cluster_id)
            elif signal.kind == "answer" and signal.ticket_no:
                cluster_id = detector.cluster_of(signal.ticket_no)
                if cluster_id:
                    detector.record_first_answer(cluster_id, signal.at)
                    batch.touched.add(cluster_id)
            elif signal.kind == "merge" and signal.cluster_id:
                other = signal.payload["other"]
                obs = detector.merge(signal.cluster_id, other, at=signal.at)
                batch.gone[other] = "merged"
            elif signal.kind == "split" and signal.cluster_id:
                obs = detector.split(signal.cluster_id, signal.payload["tickets"], at=signal.at)
                batch.touched.add(signal.cluster_id)
            elif signal.kind == "resolve" and signal.cluster_id:
                batch.resolved.append((signal.cluster_id, signal.payload["resolution"], signal.at))
            if obs is not None:
                self._collect(obs, batch)
        except (KeyError, ValueError) as exc:
            log.warning("surge signal %s (%s) not applied: %s", signal.seq, signal.kind, exc)

    def _absorb(
        self,
        complaint: surge.Complaint,
        obs: surge.Observation,
        incidents: list[Incident],
        batch: _Batch,
    ) -> surge.Observation | None:
        """Emergency mode: a complaint matching a declared incident joins its cluster."""
        assert self.detector is not None and obs.cluster_id is not None
        for incident in incidents:
            if not _matches(incident, complaint):
                continue
            if incident.cluster_id is None or incident.cluster_id == obs.cluster_id:
                self._attach(incident, obs.cluster_id, batch)
                return None
            try:
                self._collect(obs, batch)
                at = complaint.received_at
                merged = self.detector.merge(incident.cluster_id, obs.cluster_id, at=at)
                batch.gone[obs.cluster_id] = "merged"
                return merged
            except (KeyError, ValueError):
                self._attach(incident, obs.cluster_id, batch)  # the old one expired: restart
                return None
        return None

    @staticmethod
    def _attach(incident: Incident, cluster_id: str, batch: _Batch) -> None:
        incident.cluster_id = cluster_id  # in memory for this run; written by _commit
        batch.incident_clusters[incident.id] = cluster_id
        batch.touched.add(cluster_id)

    @staticmethod
    def _collect(obs: surge.Observation, batch: _Batch) -> None:
        if obs.cluster_id:
            batch.touched.add(obs.cluster_id)
        batch.alerts.extend(obs.alerts)
        for ticket in obs.newly_major:
            batch.newly_major[ticket] = obs.cluster_id or ""
        for cluster_id in obs.expired_clusters:
            batch.gone.setdefault(cluster_id, "expired")

    # --- persistence ----------------------------------------------------------------------
    async def _commit(
        self, db: Database, signals: Sequence[SurgeSignal], batch: _Batch, now: datetime
    ) -> bool:
        assert self.detector is not None
        new_seq = signals[-1].seq if signals else self.last_seq
        async with db.uow() as uow:
            moved = await uow.session.execute(
                update(SurgeCursor)
                .where(
                    SurgeCursor.name == CURSOR,
                    SurgeCursor.last_seq == self.last_seq,
                    SurgeCursor.holder == self.me,
                )
                .values(last_seq=new_seq)
                .execution_options(synchronize_session=False)
            )
            if moved.rowcount != 1:  # type: ignore[attr-defined]
                return False
            for cluster_id in batch.touched - set(batch.gone):
                await self._project(uow, cluster_id)
            for cluster_id, why in batch.gone.items():
                row = await uow.session.get(SurgeCluster, cluster_id)
                if row is not None and row.state == "active":
                    row.state = why
            for alert in batch.alerts:
                await _raise(uow, alert, self.config, self._reasons(alert.cluster_id))
            for ticket, cluster_id in batch.newly_major.items():
                uow.publish(
                    TicketMarkedMajor(
                        ticket_no=ticket,
                        reason="same_content_surge",
                        cluster_id=cluster_id,
                        marked_at=now,
                    )
                )
            for incident_id, cluster_id in batch.incident_clusters.items():
                incident = await uow.session.get(Incident, incident_id)
                if incident is not None:
                    incident.cluster_id = cluster_id
                row = await uow.session.get(SurgeCluster, cluster_id)
                if row is not None:
                    row.incident_id = incident_id
            for cluster_id, resolution, at in batch.resolved:
                await _resolve(uow, cluster_id, resolution, at)
            for c in self.detector.new_corrections():
                if await uow.session.get(SurgeCorrection, (c.kind, c.name, c.value)) is None:
                    uow.session.add(
                        SurgeCorrection(
                            kind=c.kind,
                            name=c.name,
                            value=c.value,
                            cluster_id=c.cluster_id,
                            created_at=now,
                        )
                    )
            await uow.commit()
        self.last_seq = new_seq
        return True

    def _reasons(self, cluster_id: str) -> dict[str, int]:
        assert self.detector is not None
        try:
            return self.detector.cluster(cluster_id).reasons
        except KeyError:
            return {}

    async def _project(self, uow: UnitOfWork, cluster_id: str) -> None:
        assert self.detector is not None
        try:
            info = self.detector.cluster(cluster_id)
        except KeyError:
            return
        row = await uow.session.get(SurgeCluster, cluster_id)
        tickets = list(info.tickets)
        departments = sorted(
            set(
                (
                    await uow.session.scalars(
                        select(Assignment.handler_department).where(
                            Assignment.ticket_no.in_(tickets)
                        )
                    )
                ).all()
            )
        )
        first_seen = await uow.session.scalar(
            select(SurgeInput.received_at)
            .where(SurgeInput.ticket_no.in_(tickets))
            .order_by(SurgeInput.received_at)
            .limit(1)
        )
        values: dict[str, Any] = {
            "category": info.category,
            "count": len(tickets),
            "count_before_answer": info.count_before_answer,
            "tickets": tickets,
            "departments": departments,
            "major": info.major,
            "discovered_at": info.discovered_at,
            "answer_due_at": info.answer_due_at,
            "answered_at": info.answered_at,
            "members": [{"ticket_no": t, "reasons": list(why)} for t, why in info.members],
            "reasons": info.reasons,
        }
        if row is None:
            uow.session.add(
                SurgeCluster(
                    id=cluster_id, state="active", first_seen_at=first_seen or utcnow(), **values
                )
            )
        else:
            for k, v in values.items():
                setattr(row, k, v)

    async def _rebuild(self, db: Database, now: datetime) -> None:
        """Replay the signals inside the window, publishing nothing, then carry on."""
        detector = surge.SurgeDetector(self.config)
        self.detector = detector
        async with db.sessions() as s:
            cursor = await s.get(SurgeCursor, CURSOR)
            upto = cursor.last_seq if cursor else 0
            since = now - 2 * self.config.window
            signals = list(
                (
                    await s.scalars(
                        select(SurgeSignal)
                        .where(SurgeSignal.seq <= upto, SurgeSignal.at >= since)
                        .order_by(SurgeSignal.seq)
                    )
                ).all()
            )
            inputs = await _inputs(s, signals)
            incidents = list((await s.scalars(select(Incident))).all())
            taught = (await s.scalars(select(SurgeCorrection))).all()
        detector.teach(
            surge.Correction(r.kind, r.name, r.value, r.cluster_id) for r in taught
        )  # what ops taught, however old
        scratch = _Batch()
        for signal in signals:
            self._apply(signal, inputs, incidents, scratch)  # scratch is dropped: no writes
        detector.new_corrections()  # replayed merges teach what is stored already
        self.last_seq = upto
        log.info("surge worker %s rebuilt %d signals up to %d", self.me, len(signals), upto)


async def _inputs(session: Any, signals: Sequence[SurgeSignal]) -> dict[str, SurgeInput]:
    wanted = [s.ticket_no for s in signals if s.kind == "observe" and s.ticket_no]
    if not wanted:
        return {}
    rows = (await session.scalars(select(SurgeInput).where(SurgeInput.ticket_no.in_(wanted)))).all()
    return {r.ticket_no: r for r in rows}


def _matches(incident: Incident, c: surge.Complaint) -> bool:
    if incident.category != c.category:
        return False
    if incident.area and c.area and incident.area not in c.area:
        return False
    return not incident.keywords or any(k in c.text for k in incident.keywords)


async def _raise(
    uow: UnitOfWork, alert: surge.Alert, config: surge.SurgeConfig, reasons: dict[str, int]
) -> None:
    scope = alert.scope or ""
    key = (alert.cluster_id, str(alert.rule), scope)
    if await uow.session.get(SurgeAlertLog, key) is not None:
        return  # raised before (a replay, a merge carrying fired rules)
    uow.session.add(
        SurgeAlertLog(
            cluster_id=alert.cluster_id,
            rule=str(alert.rule),
            scope=scope,
            notify_role=alert.notify_role,
            count=alert.count,
            raised_at=alert.raised_at,
        )
    )
    row = await uow.session.get(SurgeCluster, alert.cluster_id)
    if row is not None:
        row.level = str(alert.rule)
    departments = list(row.departments) if row is not None else []
    if not departments:
        departments = sorted(
            set(
                (
                    await uow.session.scalars(
                        select(Assignment.handler_department).where(
                            Assignment.ticket_no.in_(list(alert.tickets))
                        )
                    )
                ).all()
            )
        )
    trigger = alert.trigger_ticket or alert.tickets[-1]
    await staff_alert(
        uow,
        kind=str(alert.rule),
        key=f"{alert.cluster_id}:{alert.rule}:{scope}",
        ticket_no=trigger,
        cluster_id=alert.cluster_id,
        scope=alert.scope,
        departments=departments,
        tickets=alert.tickets,
        count=alert.count,
        at=alert.raised_at,
        shift_starts=config.shift_starts,
        timezone=config.timezone,
        due_at=alert.answer_due_at,
    )
    uow.publish(
        SurgeAlertRaised(
            ticket_no=alert.trigger_ticket or alert.tickets[-1],
            cluster_id=alert.cluster_id,
            level=str(alert.rule),
            notify_role=alert.notify_role,
            count=alert.count,
            tickets=list(alert.tickets),
            raised_at=alert.raised_at,
            reasons=reasons,
        )
    )


async def _resolve(uow: UnitOfWork, cluster_id: str, resolution: str, at: datetime) -> None:
    row = await uow.session.get(SurgeCluster, cluster_id)
    if row is None or row.resolved_at is not None:
        return
    row.state, row.resolution, row.resolved_at = "resolved", resolution, at
    uow.publish(
        SurgeResolved(
            ticket_no=row.tickets[0],
            cluster_id=cluster_id,
            resolution=resolution,
            tickets=list(row.tickets),
            resolved_at=at,
        )
    )


def _is_pg(db: Database) -> bool:
    return db.engine.dialect.name == "postgresql"
