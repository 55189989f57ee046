"""Same-content surges (快速处理机制, seed 004 §3.5): clustering one problem however it is worded.

Pure logic, no I/O, no clock: the routing service feeds complaints to `observe`, publishes the
alerts it returns, calls `overdue(now)` on a timer, and can persist `snapshot()` (snapshot.py).

A complaint's candidates are the clusters whose text sketch is near (MinHash of char bigrams
inside jieba tokens, one LSH per category, only a cluster's newest 32 members indexed) and the
clusters sharing a place, product or precise symptom with it (candidates.py). same.py decides
from place, symptom, product and similarity together and says why; alerts.py applies the
§3.5 counts; corrections.py keeps what ops merges and splits taught. Expiry is a heap of
(received_at, ticket): O(log n) per complaint, no scans.
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

from services.routing.surge import snapshot
from services.routing.surge.alerts import AlertRules
from services.routing.surge.candidates import KeyIndex
from services.routing.surge.clusters import _Cluster, _earliest, _Member
from services.routing.surge.corrections import Corrections
from services.routing.surge.features import Features, Lexicon, default_lexicon, extract
from services.routing.surge.model import Alert, ClusterInfo, Complaint, Correction, Observation
from services.routing.surge.rules import Rule, SurgeConfig
from services.routing.surge.same import Decision, Profile, decide
from services.routing.surge.sketch import _minhash, _Signatures, sketch


class SurgeDetector(AlertRules, Corrections):
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
        self.distinct: set[tuple[str, str]] = set()  # learnt from splits: two places, not one
        self._taught: list[Correction] = []  # corrections not yet taken by `new_corrections`
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
            tuple((t, m.reasons) for t, m in c.members.items()), dict(c.reasons),
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
            complaint.desk_id, complaint.store_id, complaint.over_level, features, reasons,
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
            member.reasons = (f"ops_merge:{other}", *member.reasons)
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
            member = target.members[ticket] = source.members.pop(ticket)
            member.reasons = (f"ops_split:{cluster_id}",)
            self._ticket_cluster[ticket] = target.cluster_id
        for ticket, values in held:
            self._index(target if ticket in target.members else source, ticket, values)
        target.major_tickets = source.major_tickets & set(moving)
        source.major_tickets -= target.major_tickets
        self._recount(source)
        self._recount(target)
        target.reasons["ops_split"] += 1
        self._learn_apart(source, target)
        for member in target.members.values():
            self._keyed.add(target.category, target.cluster_id, member.features)
        alerts, newly_major = self._evaluate(target, at, None)
        return Observation(target.cluster_id, alerts, newly_major)

    # --- persistence --------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Plain JSON-ready state: clusters, members, and the signatures the LSH holds."""
        return snapshot.dump(self)

    @classmethod
    def restore(cls, data: dict[str, Any], config: SurgeConfig | None = None) -> SurgeDetector:
        """Rebuild a detector, its LSH, expiry and due heaps from `snapshot()` output."""
        detector = cls(config)
        snapshot.load(detector, data)
        return detector

    def _restore_member(
        self, cluster: _Cluster, member: _Member, signature: np.ndarray | None
    ) -> None:
        self._clusters[cluster.cluster_id] = cluster
        cluster.members[member.ticket_no] = member
        self._keyed.add(cluster.category, cluster.cluster_id, member.features)
        self._ticket_cluster[member.ticket_no] = cluster.cluster_id
        heapq.heappush(self._expiry, (member.received_at.timestamp(), member.ticket_no))
        if signature is not None:
            self._index(cluster, member.ticket_no, signature)

    def _restored(self, cluster: _Cluster) -> None:
        self._clusters[cluster.cluster_id] = cluster
        self._recount(cluster)
        if cluster.answer_due_at is not None and cluster.answered_at is None:
            heapq.heappush(self._due, (cluster.answer_due_at.timestamp(), cluster.cluster_id))

    # --- internals ----------------------------------------------------------------------
    def _best_match(
        self, c: Complaint, mh: MinHash, features: Features
    ) -> tuple[_Cluster, float, Decision] | None:
        cfg, sigs = self.config, self._signatures
        scores: dict[str, float] = {}
        empty = mh.is_empty()
        if not empty and (lsh := self._lsh.get(c.category)) is not None:
            rows = np.fromiter(found := lsh.query(mh), dtype=np.intp, count=len(found))
            equal = sigs.equal(rows, mh.hashvalues)
            near = np.flatnonzero(equal >= min(cfg.similarity, cfg.similarity_confirmed))
            at, window = c.received_at.timestamp(), cfg.window.total_seconds()
            for row, score in zip(rows[near].tolist(), equal[near].tolist(), strict=True):
                cluster_id = self._ticket_cluster[sigs.ticket[row] or ""]
                fresh = abs(at - self._clusters[cluster_id].latest) <= window
                if fresh and score > scores.get(cluster_id, -1.0):
                    scores[cluster_id] = score
        located = c.category in cfg.located_categories
        mine = Profile.of(features)

        def judge(cluster: _Cluster, score: float) -> Decision:
            return decide(
                mine, cluster.profile, score, located=located,
                text_alone=cfg.similarity, text_confirmed=cfg.similarity_confirmed,
                text_strong=cfg.similarity_strong, distinct=self.distinct,
            )  # fmt: skip

        # clusters that share a place or product are candidates however the text is worded;
        # only those that could join at all (a perfect text match) are worth comparing texts
        keyed: list[_Cluster] = []
        for cluster_id in self._keyed.candidates(c.category, features):
            cluster = self._clusters.get(cluster_id)
            if cluster is None or cluster_id in scores or not cluster.indexed:
                continue
            if abs(c.received_at.timestamp() - cluster.latest) > cfg.window.total_seconds():
                continue
            if judge(cluster, 1.0).joined:
                keyed.append(cluster)
        if keyed and not empty:  # one comparison for all of them: their newest members
            newest = [list(k.indexed)[-cfg.compare_newest :] for k in keyed]
            rows = np.fromiter((sigs.row[t] for group in newest for t in group), dtype=np.intp)
            equal = sigs.equal(rows, mh.hashvalues)
            starts = np.cumsum([0, *(len(g) for g in newest[:-1])])
            maxima = np.maximum.reduceat(equal, starts).tolist()
            for cluster, score in zip(keyed, maxima, strict=True):
                scores[cluster.cluster_id] = score
        else:
            scores.update((k.cluster_id, 0.0) for k in keyed)
        best: tuple[_Cluster, float, Decision] | None = None
        best_rank = (0, 0.0)
        for cluster_id in sorted(scores):
            cluster, score = self._clusters[cluster_id], scores[cluster_id]
            decision = judge(cluster, score)
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
