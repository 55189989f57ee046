"""What goes into the detector and what comes out: complaints, alerts, observations."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from services.routing.surge.rules import Rule


@dataclass(frozen=True)
class Complaint:
    """What the detector needs of a ticket; `over_level` covers consumer-association transfers."""

    ticket_no: str
    text: str
    category: str
    received_at: datetime
    area: str | None = None
    subject: str | None = None  # what the problem is about, when known: SP code, product, app
    desk_id: str | None = None
    store_id: str | None = None
    over_level: bool = False

    def __post_init__(self) -> None:
        if self.received_at.tzinfo is None:
            raise ValueError("received_at must be timezone-aware")


@dataclass(frozen=True)
class Alert:
    """A rule fired for a cluster; maps onto the SurgeAlertRaised event."""

    cluster_id: str
    rule: Rule
    notify_role: str
    count: int
    tickets: tuple[str, ...]
    raised_at: datetime
    trigger_ticket: str | None = None
    scope: str | None = None
    major: bool = False
    answer_due_at: datetime | None = None


@dataclass(frozen=True)
class Observation:
    """What one observe/merge/split changed: alerts to raise and tickets to mark major."""

    cluster_id: str | None
    alerts: tuple[Alert, ...] = ()
    newly_major: tuple[str, ...] = ()
    expired_clusters: tuple[str, ...] = ()
    similarity: float | None = None
    duplicate: bool = False
    stale: bool = False
    reasons: tuple[str, ...] = ()  # why it joined its cluster: place, symptom, product, text


@dataclass(frozen=True)
class ClusterInfo:
    """A read-only view of one active cluster."""

    cluster_id: str
    category: str
    tickets: tuple[str, ...]
    count_before_answer: int
    major: bool
    discovered_at: datetime | None
    answer_due_at: datetime | None
    answered_at: datetime | None
    # why each member joined, oldest first: (ticket, reasons); the first member has none
    members: tuple[tuple[str, tuple[str, ...]], ...] = ()
    reasons: dict[str, int] = field(default_factory=dict)  # how often each kind of reason


@dataclass(frozen=True)
class Correction:
    """What an ops merge or split taught, as a row of data the detector loads again.

    kind "alias": `name` is one with `value` from now on (p:翠苑小区 -> p:翠苑; a places.tsv or
    products.tsv row); kind "distinct": the places `name` and `value` are not one place although
    one name holds the other (新世界 / 金沙洲新世界), learnt from a split."""

    kind: str
    name: str
    value: str
    cluster_id: str
