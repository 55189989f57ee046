"""The seed 004 §3.5 rules applied to one cluster: which alerts its counters raise, each once
per cluster (and desk or hall), and when a surge is discovered (the first answer is due)."""

from __future__ import annotations

import heapq
from datetime import datetime

from services.routing.surge.clusters import _Cluster, _densest, _Member
from services.routing.surge.model import Alert
from services.routing.surge.rules import NOTIFY_ROLE, Rule, SurgeConfig


class AlertRules:
    """Mixed into the detector: reads its config, shifts and due-heap."""

    config: SurgeConfig
    _due: list[tuple[float, str]]

    def shift_start(self, at: datetime) -> datetime:
        raise NotImplementedError

    def _evaluate(
        self, cluster: _Cluster, at: datetime, trigger: _Member | None
    ) -> tuple[tuple[Alert, ...], tuple[str, ...]]:
        cfg, ticket = self.config, trigger.ticket_no if trigger else None
        local = self._desk_alerts(cluster, at, trigger) + self._hall_alerts(cluster, at, trigger)
        counted: list[Alert | None] = []
        if cluster.before_answer > cfg.department_manager_over:
            counted.append(self._fire_count(cluster, Rule.DEPARTMENT_MANAGER, at, ticket))
        if cluster.before_answer > cfg.company_leader_over:
            counted.append(self._fire_count(cluster, Rule.COMPANY_LEADER, at, ticket, major=True))
        if cluster.over_level > cfg.over_level_over and Rule.OVER_LEVEL not in cluster.fired:
            over = tuple(t for t, m in cluster.members.items() if m.over_level)
            counted.append(
                self._fire(cluster, Rule.OVER_LEVEL, None, len(over), over, at, ticket, major=True)
            )
        raised = [a for a in counted if a is not None]
        if (local or raised) and cluster.discovered_at is None:
            cluster.discovered_at, cluster.answer_due_at = at, at + cfg.first_answer_within
            heapq.heappush(self._due, (cluster.answer_due_at.timestamp(), cluster.cluster_id))
            tickets = cluster.tickets()
            dept = self._fire(cluster, Rule.DEPARTMENT, None, len(tickets), tickets, at, ticket)
            local.extend([dept] if dept else [])
        major_now = any(a.major for a in raised)
        cluster.major |= major_now
        newly_major: tuple[str, ...] = ()
        if cluster.major and (major_now or trigger is None):
            newly_major = tuple(t for t in cluster.members if t not in cluster.major_tickets)
        elif cluster.major and ticket not in cluster.major_tickets:
            newly_major = (ticket,) if ticket else ()
        cluster.major_tickets.update(newly_major)
        return (*local, *raised), newly_major

    def _desk_alerts(self, cluster: _Cluster, at: datetime, trigger: _Member | None) -> list[Alert]:
        if trigger is None:
            scopes = sorted(cluster.desk_shifts)
        elif trigger.desk_id:
            scopes = [(trigger.desk_id, self.shift_start(trigger.received_at))]
        else:
            scopes = []
        alerts = []
        for desk, shift in scopes:
            key = f"{Rule.FRONT_DESK}:{desk}"
            if key in cluster.fired or cluster.desk_shifts[(desk, shift)] < self.config.desk_count:
                continue
            tickets = tuple(
                t
                for t, m in cluster.members.items()
                if m.desk_id == desk and self.shift_start(m.received_at) == shift
            )
            ticket = trigger.ticket_no if trigger else None
            alert = self._fire(cluster, Rule.FRONT_DESK, desk, len(tickets), tickets, at, ticket)
            alerts.extend([alert] if alert else [])
        return alerts

    def _hall_alerts(self, cluster: _Cluster, at: datetime, trigger: _Member | None) -> list[Alert]:
        if trigger is None:
            stores = sorted(cluster.hall_times)
        else:
            stores = [trigger.store_id] if trigger.store_id else []
        alerts = []
        width = self.config.hall_window
        for store in stores:
            if f"{Rule.SERVICE_HALL}:{store}" in cluster.fired:
                continue
            n, start = _densest(cluster.hall_times[store], width)
            if n < self.config.hall_count:
                continue
            tickets = tuple(
                t
                for t, m in cluster.members.items()
                if m.store_id == store and start <= m.received_at <= start + width
            )
            ticket = trigger.ticket_no if trigger else None
            alert = self._fire(cluster, Rule.SERVICE_HALL, store, n, tickets, at, ticket)
            alerts.extend([alert] if alert else [])
        return alerts

    def _fire_count(
        self, cluster: _Cluster, rule: Rule, at: datetime, ticket: str | None, major: bool = False
    ) -> Alert | None:
        if rule in cluster.fired:
            return None
        tickets = cluster.tickets(before=cluster.answered_at)
        return self._fire(cluster, rule, None, len(tickets), tickets, at, ticket, major=major)

    def _fire(
        self,
        cluster: _Cluster,
        rule: Rule,
        scope: str | None,
        count: int,
        tickets: tuple[str, ...],
        at: datetime,
        trigger: str | None = None,
        *,
        major: bool = False,
    ) -> Alert | None:
        key = f"{rule}:{scope}" if scope is not None else str(rule)
        if key in cluster.fired:
            return None
        cluster.fired.add(key)
        due = cluster.answer_due_at if rule is Rule.DEPARTMENT else None
        return Alert(
            cluster.cluster_id, rule, NOTIFY_ROLE[rule], count, tickets, at,
            trigger, scope, major, due,
        )  # fmt: skip
