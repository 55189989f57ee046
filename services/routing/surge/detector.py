"""Same-content surges (快速处理机制, seed 004 §3.5): near-duplicate clustering and alert rules.

Pure logic, no I/O, no clock: the routing service feeds complaints to `SurgeDetector.observe`,
publishes the alerts it returns, calls `overdue(now)` on a timer, and persists `snapshot()` so
`SurgeDetector.restore` can rebuild the index after a restart.

Text: NFKC (full width -> half width), Chinese numerals before units -> digits, mobile numbers
and long ids dropped, punctuation removed; jieba tokens minus stopwords.txt, a few synonyms
folded; char bigrams inside tokens -> MinHash (fixed num_perm, seed, crc32) -> MinHashLSH.
Measured on tests/data/surge_pairs.jsonl (exact Jaccard, best F1): bigrams inside tokens 0.83,
whole tokens 0.83, tokens + token pairs 0.73, bigrams across the whole text 0.71. Precision is
lost on hard negatives only (same wording, another place or product): metadata has to decide
those, so a match needs Jaccard >= 0.25 on text alone but only 0.2 when a known area
(located categories) or subject agrees, and a known one that disagrees forbids it.

Index: one LSH per (category, block); block = the area (located categories) or the subject,
or "?" when neither is known. A complaint looks in its own block and "?"; one with neither
looks in "?" and "*", where every cluster of two or more is also indexed (so it misses only
one-offs filed under an area). With 32 bands of 2 rows a pair at J=0.2 is a candidate with
p=0.73, but an unrelated same-category pair (J~0.05) still with p~0.08: without blocks each
complaint would be compared with a tenth of the window. Only a cluster's newest 32 members are
indexed. Expiry is a heap of (received_at, ticket): O(log n) per complaint, no scans.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from datasketch import MinHash, MinHashLSH

from services.routing.surge.candidates import KeyIndex
from services.routing.surge.clusters import _Cluster, _densest, _earliest, _iso, _Member, _parse
from services.routing.surge.features import Features, Lexicon, default_lexicon, extract
from services.routing.surge.model import Alert, ClusterInfo, Complaint, Observation
from services.routing.surge.rules import NOTIFY_ROLE, Rule, SurgeConfig
from services.routing.surge.same import Decision, Profile, decide
from services.routing.surge.sketch import _b64, _minhash, _Signatures, _unb64, sketch

SNAPSHOT_VERSION = 2


class SurgeDetector:
    """Clusters same-content complaints in a sliding window and raises each alert once."""

    def __init__(self, config: SurgeConfig | None = None, lexicon: Lexicon | None = None) -> None:
        self.config = config or SurgeConfig()
        self._tz = ZoneInfo(self.config.timezone)
        self._starts = sorted(self.config.shift_starts)
        self._clusters: dict[str, _Cluster] = {}
        self._ticket_cluster: dict[str, str] = {}
        self._signatures = _Signatures(self.config.num_perm)
        self._lsh: dict[str, MinHashLSH] = {}  # category -> index of the text sketches
        self._keyed = KeyIndex(self.config.candidates_per_key)
        self.lexicon = lexicon or default_lexicon()
        self.aliases: dict[str, str] = {}  # learnt from ops merges: "p:翠苑小区" -> "p:翠苑"
        self._expiry: list[tuple[float, str]] = []  # heap: (received_at, ticket_no)
        self._due: list[tuple[float, str]] = []  # heap: (answer_due_at, cluster_id)
        self.watermark: datetime | None = None

    # --- queries ------------------------------------------------------------------------
    def cluster_of(self, ticket_no: str) -> str | None:
        """The active cluster a ticket belongs to, if any."""
        return self._ticket_cluster.get(ticket_no)

    def cluster(self, cluster_id: str) -> ClusterInfo:
        """A read-only view of an active cluster (KeyError when unknown or expired)."""
        c = self._clusters[cluster_id]
        return ClusterInfo(
            c.cluster_id, c.category, c.tickets(), c.before_answer, c.major,
            c.discovered_at, c.answer_due_at, c.answered_at,
        )  # fmt: skip

    def stats(self) -> dict[str, int]:
        """Sizes of the state: active clusters, tickets held, tickets in the LSH index."""
        return {
            "clusters": len(self._clusters),
            "tickets": len(self._ticket_cluster),
            "indexed": len(self._signatures),
        }

    def shift_start(self, at: datetime) -> datetime:
        """Start of the shift (班次) `at` falls in, in the configured time zone."""
        local = at.astimezone(self._tz)
        i = bisect_right(self._starts, local.time().replace(tzinfo=None)) - 1
        day = local.date() if i >= 0 else local.date() - timedelta(days=1)
        return datetime.combine(day, self._starts[i], self._tz)

    # --- commands -----------------------------------------------------------------------
    def observe(self, complaint: Complaint) -> Observation:
        """Cluster one complaint; redelivery of a ticket still held changes nothing."""
        if (known := self._ticket_cluster.get(complaint.ticket_no)) is not None:
            return Observation(known, duplicate=True)
        expired = self.expire(complaint.received_at)
        assert self.watermark is not None
        if complaint.received_at < self.watermark - self.config.window:
            return Observation(None, expired_clusters=expired, stale=True)
        mh = sketch(complaint.text, self.config)
        features = self._features(complaint)
        match = self._best_match(complaint, mh, features)
        reasons: tuple[str, ...] = ()
        if match is None:
            cluster, score = _Cluster(f"S-{complaint.ticket_no}", complaint.category), None
            self._clusters[cluster.cluster_id] = cluster
        else:
            cluster, score, decision = match
            reasons = decision.reasons
            cluster.reasons.update(
                r.split(":")[0] if r.startswith("similarity") else r for r in reasons
            )
        member = _Member(
            complaint.ticket_no, complaint.received_at, complaint.area, complaint.subject,
            complaint.desk_id, complaint.store_id, complaint.over_level, features,
        )  # fmt: skip
        self._add(cluster, member, mh)
        alerts, newly_major = self._evaluate(cluster, complaint.received_at, member)
        return Observation(cluster.cluster_id, alerts, newly_major, expired, score, reasons=reasons)

    def expire(self, now: datetime) -> tuple[str, ...]:
        """Advance the watermark; drop tickets older than the window, retire emptied clusters."""
        if self.watermark is None or now > self.watermark:
            self.watermark = now
        cutoff = (self.watermark - self.config.window).timestamp()
        retired: list[str] = []
        while self._expiry and self._expiry[0][0] < cutoff:
            _, ticket = heapq.heappop(self._expiry)
            cluster_id = self._ticket_cluster.get(ticket)
            if cluster_id is None:
                continue  # its cluster already retired
            cluster = self._clusters[cluster_id]
            if ticket in cluster.indexed:
                self._unindex(cluster, ticket)
            if cluster.latest < cutoff:
                self._retire(cluster)
                retired.append(cluster_id)
        return tuple(retired)

    def record_first_answer(self, cluster_id: str, at: datetime) -> None:
        """The responsible department answered: counting towards the 50/200 levels stops."""
        cluster = self._clusters[cluster_id]
        if cluster.answered_at is None or at < cluster.answered_at:
            cluster.answered_at = at
            self._recount(cluster)

    def overdue(self, now: datetime) -> list[Alert]:
        """Clusters whose first answer is later than due: one alert each, to the manager."""
        alerts: list[Alert] = []
        while self._due and self._due[0][0] < now.timestamp():
            due, cluster_id = heapq.heappop(self._due)
            cluster = self._clusters.get(cluster_id)
            if cluster is None or cluster.answered_at is not None:
                continue
            if cluster.answer_due_at is None or cluster.answer_due_at.timestamp() != due:
                continue  # superseded by a merge
            tickets = cluster.tickets()
            alert = self._fire(cluster, Rule.ANSWER_OVERDUE, None, len(tickets), tickets, now)
            if alert is not None:
                alerts.append(alert)
        return alerts

    def merge(self, into: str, other: str, *, at: datetime) -> Observation:
        """Ops: `other` is the same problem as `into`; fired alerts and marks carry over."""
        target, source = self._clusters[into], self._clusters[other]
        if target is source or target.category != source.category:
            raise ValueError("merge needs two different clusters of one category")
        held = self._detach(target) + self._detach(source)
        for ticket, member in source.members.items():
            target.members[ticket] = member
            self._ticket_cluster[ticket] = into
        for ticket, values in sorted(held, key=lambda tv: target.members[tv[0]].received_at):
            self._index(target, ticket, values)
        self._learn(target, source)
        target.reasons.update(source.reasons)
        target.reasons["ops_merge"] += 1
        for member in source.members.values():
            self._keyed.add(target.category, into, member.features)
        self._keyed.remove(source.category, other, source.profile)
        target.fired |= source.fired
        target.major |= source.major
        target.major_tickets |= source.major_tickets
        target.discovered_at = _earliest(target.discovered_at, source.discovered_at)
        target.answered_at = _earliest(target.answered_at, source.answered_at)
        due = _earliest(target.answer_due_at, source.answer_due_at)
        if due is not None and due != target.answer_due_at:
            target.answer_due_at = due
            heapq.heappush(self._due, (due.timestamp(), into))
        del self._clusters[other]
        self._recount(target)
        alerts, newly_major = self._evaluate(target, at, None)
        return Observation(into, alerts, newly_major)

    def split(self, cluster_id: str, tickets: Iterable[str], *, at: datetime) -> Observation:
        """Ops: `tickets` are another problem; they form a new cluster that starts afresh."""
        source = self._clusters[cluster_id]
        moving = list(dict.fromkeys(tickets))
        if not moving or any(t not in source.members for t in moving):
            raise ValueError("split needs tickets that belong to the cluster")
        if len(moving) == len(source.members):
            raise ValueError("split must leave at least one ticket behind")
        source.splits += 1
        target = _Cluster(f"{cluster_id}/{source.splits}", source.category)
        self._clusters[target.cluster_id] = target
        held = self._detach(source)
        for ticket in moving:
            target.members[ticket] = source.members.pop(ticket)
            self._ticket_cluster[ticket] = target.cluster_id
        for ticket, values in held:
            self._index(target if ticket in target.members else source, ticket, values)
        target.major_tickets = source.major_tickets & set(moving)
        source.major_tickets -= target.major_tickets
        self._recount(source)
        self._recount(target)
        target.reasons["ops_split"] += 1
        for member in target.members.values():
            self._keyed.add(target.category, target.cluster_id, member.features)
        alerts, newly_major = self._evaluate(target, at, None)
        return Observation(target.cluster_id, alerts, newly_major)

    def _learn(self, target: _Cluster, source: _Cluster) -> None:
        """An ops merge of two places (or products) the lexicon kept apart: one from now on."""
        for kind, mine, theirs in (
            ("p", target.profile.places, source.profile.places),
            ("g", target.profile.products, source.profile.products),
        ):
            if mine and theirs and not (mine & theirs):
                canonical = f"{kind}:{min(mine)}"
                for name in theirs:
                    self.aliases.setdefault(f"{kind}:{name}", canonical)

    def corrections(self) -> list[tuple[str, str]]:
        """What ops merges taught, as (name, canonical) rows for places.tsv / products.tsv."""
        return sorted((k, v) for k, v in self.aliases.items())

    # --- persistence --------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Plain JSON-ready state: clusters, members, and the signatures the LSH holds."""
        return {
            "version": SNAPSHOT_VERSION,
            "sketch": self._sketch_params(),
            "watermark": _iso(self.watermark),
            "aliases": dict(sorted(self.aliases.items())),
            "clusters": [self._dump(c) for c in self._clusters.values()],
        }

    @classmethod
    def restore(cls, data: dict[str, Any], config: SurgeConfig | None = None) -> SurgeDetector:
        """Rebuild a detector, its LSH, expiry and due heaps from `snapshot()` output."""
        detector = cls(config)
        if data.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"unknown surge snapshot version {data.get('version')!r}")
        if data["sketch"] != detector._sketch_params():
            raise ValueError("snapshot signatures use other sketch settings; rebuild from texts")
        detector.watermark = _parse(data["watermark"])
        detector.aliases = dict(data.get("aliases", {}))
        for raw in data["clusters"]:
            detector._load(raw)
        return detector

    def _sketch_params(self) -> dict[str, Any]:
        c = self.config
        return {
            "num_perm": c.num_perm,
            "seed": c.seed,
            "shingles": c.shingles,
            "hash": "crc32",
        }

    def _dump(self, c: _Cluster) -> dict[str, Any]:
        members = []
        for t, m in c.members.items():
            sig = self._signatures[t] if t in c.indexed else None
            members.append(
                {
                    "ticket_no": t,
                    "received_at": m.received_at.isoformat(),
                    "area": m.area,
                    "subject": m.subject,
                    "desk_id": m.desk_id,
                    "store_id": m.store_id,
                    "over_level": m.over_level,
                    "signature": _b64(sig) if sig is not None else None,
                    "features": list(m.features),
                }
            )
        return {
            "cluster_id": c.cluster_id,
            "category": c.category,
            "fired": sorted(c.fired),
            "major": c.major,
            "major_tickets": sorted(c.major_tickets),
            "discovered_at": _iso(c.discovered_at),
            "answer_due_at": _iso(c.answer_due_at),
            "answered_at": _iso(c.answered_at),
            "splits": c.splits,
            "reasons": dict(c.reasons),
            "members": members,
        }

    def _load(self, raw: dict[str, Any]) -> None:
        cluster = _Cluster(
            raw["cluster_id"], raw["category"], fired=set(raw["fired"]), major=raw["major"],
            major_tickets=set(raw["major_tickets"]), discovered_at=_parse(raw["discovered_at"]),
            answer_due_at=_parse(raw["answer_due_at"]), answered_at=_parse(raw["answered_at"]),
            splits=raw["splits"], reasons=Counter(raw.get("reasons", {})),
        )  # fmt: skip
        self._clusters[cluster.cluster_id] = cluster
        for m in raw["members"]:
            member = _Member(
                m["ticket_no"], datetime.fromisoformat(m["received_at"]), m["area"], m["subject"],
                m["desk_id"], m["store_id"], m["over_level"], tuple(m.get("features", ())),
            )  # fmt: skip
            cluster.members[member.ticket_no] = member
            self._keyed.add(cluster.category, cluster.cluster_id, member.features)
            self._ticket_cluster[member.ticket_no] = cluster.cluster_id
            heapq.heappush(self._expiry, (member.received_at.timestamp(), member.ticket_no))
            if m["signature"] is not None:
                self._index(cluster, member.ticket_no, _unb64(m["signature"]))
        self._recount(cluster)
        if cluster.answer_due_at is not None and cluster.answered_at is None:
            heapq.heappush(self._due, (cluster.answer_due_at.timestamp(), cluster.cluster_id))

    # --- internals ----------------------------------------------------------------------
    def _best_match(
        self, c: Complaint, mh: MinHash, features: Features
    ) -> tuple[_Cluster, float, Decision] | None:
        cfg, sigs = self.config, self._signatures
        scores: dict[str, float] = {}
        if not mh.is_empty() and (lsh := self._lsh.get(c.category)) is not None:
            rows = np.fromiter(found := lsh.query(mh), dtype=np.intp, count=len(found))
            equal = sigs.equal(rows, mh.hashvalues)
            near = np.flatnonzero(equal >= min(cfg.similarity, cfg.similarity_confirmed))
            for row, score in zip(rows[near].tolist(), equal[near].tolist(), strict=True):
                ticket = sigs.ticket[row] or ""
                cluster_id = self._ticket_cluster[ticket]
                received = self._clusters[cluster_id].members[ticket].received_at
                if abs(c.received_at - received) <= cfg.window:
                    scores[cluster_id] = max(score, scores.get(cluster_id, 0.0))
        # clusters that share a place or product are candidates however the text is worded
        for cluster_id in self._keyed.candidates(c.category, features):
            cluster = self._clusters.get(cluster_id)
            if cluster is None or cluster_id in scores or not cluster.indexed:
                continue
            if abs(c.received_at.timestamp() - cluster.latest) > cfg.window.total_seconds():
                continue
            newest = [sigs.row[t] for t in list(cluster.indexed)[-cfg.compare_newest :]]
            rows = np.fromiter(newest, dtype=np.intp, count=len(newest))
            scores[cluster_id] = (
                0.0 if mh.is_empty() else float(sigs.equal(rows, mh.hashvalues).max())
            )
        located = c.category in cfg.located_categories
        best: tuple[_Cluster, float, Decision] | None = None
        best_rank = (0, 0.0)
        for cluster_id in sorted(scores):
            cluster, score = self._clusters[cluster_id], scores[cluster_id]
            decision = decide(
                features, cluster.profile, score, located=located,
                text_alone=cfg.similarity, text_confirmed=cfg.similarity_confirmed,
                text_strong=cfg.similarity_strong,
            )  # fmt: skip
            rank = (decision.strength, score)
            if decision.joined and (best is None or rank > best_rank):
                best, best_rank = (cluster, score, decision), rank
        return best

    def _features(self, c: Complaint) -> Features:
        keys = set(extract(f"{c.text} {c.area or ''}", self.lexicon))
        if c.subject:
            keys.add(f"g:={c.subject}")
        return tuple(sorted(self.aliases.get(k, k) for k in keys))

    def _add(self, cluster: _Cluster, member: _Member, mh: MinHash) -> None:
        cluster.members[member.ticket_no] = member
        self._ticket_cluster[member.ticket_no] = cluster.cluster_id
        heapq.heappush(self._expiry, (member.received_at.timestamp(), member.ticket_no))
        cluster.count(member, self.shift_start(member.received_at))
        self._keyed.add(cluster.category, cluster.cluster_id, member.features)
        if not mh.is_empty():
            self._index(cluster, member.ticket_no, mh.hashvalues)

    def _index(self, cluster: _Cluster, ticket: str, values: np.ndarray) -> None:
        row = self._signatures.add(ticket, values)
        cluster.indexed[ticket] = None
        lsh = self._lsh.get(cluster.category)
        if lsh is None:
            params = (self.config.lsh_bands, self.config.lsh_rows)
            lsh = self._lsh[cluster.category] = MinHashLSH(
                num_perm=self.config.num_perm, params=params
            )
        lsh.insert(row, _minhash(self.config, hashvalues=values), check_duplication=False)
        # a big cluster keeps only its newest members in the index: enough to match, bounded cost
        if len(cluster.indexed) > self.config.max_indexed_per_cluster:
            self._unindex(cluster, next(iter(cluster.indexed)))

    def _unindex(self, cluster: _Cluster, ticket: str) -> None:
        row = self._signatures.row[ticket]
        lsh = self._lsh[cluster.category]
        lsh.remove(row)
        if lsh.is_empty():
            del self._lsh[cluster.category]
        self._signatures.remove(ticket)
        del cluster.indexed[ticket]

    def _detach(self, cluster: _Cluster) -> list[tuple[str, np.ndarray]]:
        """Take a cluster out of the index; its (ticket, signature) pairs, oldest first."""
        held = [(t, self._signatures[t].copy()) for t in cluster.indexed]
        for ticket, _ in held:
            self._unindex(cluster, ticket)
        return held

    def _retire(self, cluster: _Cluster) -> None:
        for ticket in list(cluster.indexed):
            self._unindex(cluster, ticket)
        for ticket in cluster.members:
            del self._ticket_cluster[ticket]
        self._keyed.remove(cluster.category, cluster.cluster_id, cluster.profile)
        del self._clusters[cluster.cluster_id]

    def _recount(self, cluster: _Cluster) -> None:
        cluster.latest, cluster.before_answer, cluster.over_level = float("-inf"), 0, 0
        cluster.desk_shifts, cluster.hall_times = Counter(), {}
        cluster.profile = Profile.empty()
        for member in cluster.members.values():
            cluster.count(member, self.shift_start(member.received_at))

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
