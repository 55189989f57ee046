"""A cluster's members and the counters the rules read."""

from __future__ import annotations

from bisect import bisect_right, insort
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.routing.surge.features import Features
from services.routing.surge.same import Profile


# --- clusters ---------------------------------------------------------------------------
@dataclass(slots=True)
class _Member:
    ticket_no: str
    received_at: datetime
    area: str | None
    subject: str | None
    desk_id: str | None
    store_id: str | None
    over_level: bool
    features: Features = ()
    reasons: tuple[str, ...] = ()  # why it joined: place/symptom/product/similarity, ops_merge


@dataclass
class _Cluster:
    cluster_id: str
    category: str
    members: dict[str, _Member] = field(default_factory=dict)
    indexed: dict[str, None] = field(default_factory=dict)  # in the LSH, oldest first
    fired: set[str] = field(default_factory=set)
    major: bool = False
    major_tickets: set[str] = field(default_factory=set)
    discovered_at: datetime | None = None
    answer_due_at: datetime | None = None
    answered_at: datetime | None = None
    splits: int = 0
    reasons: Counter[str] = field(default_factory=Counter)  # why members were joined
    # derived from members (rebuilt by recount): the rule counters
    latest: float = float("-inf")
    desk_shifts: Counter[tuple[str, datetime]] = field(default_factory=Counter)
    hall_times: dict[str, list[datetime]] = field(default_factory=dict)
    before_answer: int = 0
    over_level: int = 0
    profile: Profile = field(default_factory=Profile.empty)

    def count(self, m: _Member, shift: datetime) -> None:
        self.latest = max(self.latest, m.received_at.timestamp())
        self.profile.add(m.features)
        if m.desk_id:
            self.desk_shifts[(m.desk_id, shift)] += 1
        if m.store_id:
            insort(self.hall_times.setdefault(m.store_id, []), m.received_at)
        if self.answered_at is None or m.received_at <= self.answered_at:
            self.before_answer += 1
        self.over_level += m.over_level

    def tickets(self, before: datetime | None = None) -> tuple[str, ...]:
        return tuple(
            t for t, m in self.members.items() if before is None or m.received_at <= before
        )


def _densest(times: list[datetime], width: timedelta) -> tuple[int, datetime]:
    """The most timestamps any closed window of `width` holds, and where that window starts."""
    best, start = 0, times[0]
    for i, t in enumerate(times):
        n = bisect_right(times, t + width) - i
        if n > best:
            best, start = n, t
    return best, start


def _earliest(*values: datetime | None) -> datetime | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None
