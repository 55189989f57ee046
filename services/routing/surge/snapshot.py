"""The detector's state as plain JSON (clusters, members, the signatures the LSH holds, what ops
corrections taught), and back. Kept apart from the matching so each stays small."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING, Any

from services.routing.surge.clusters import _Cluster, _iso, _Member, _parse
from services.routing.surge.sketch import _b64, _unb64

if TYPE_CHECKING:
    from services.routing.surge.detector import SurgeDetector

SNAPSHOT_VERSION = 3


def sketch_params(detector: SurgeDetector) -> dict[str, Any]:
    c = detector.config
    return {"num_perm": c.num_perm, "seed": c.seed, "shingles": c.shingles, "hash": "crc32"}


def dump(detector: SurgeDetector) -> dict[str, Any]:
    return {
        "version": SNAPSHOT_VERSION,
        "sketch": sketch_params(detector),
        "watermark": _iso(detector.watermark),
        "aliases": dict(sorted(detector.aliases.items())),
        "distinct": sorted([a, b] for a, b in detector.distinct),
        "clusters": [_dump_cluster(detector, c) for c in detector._clusters.values()],
    }


def load(detector: SurgeDetector, data: dict[str, Any]) -> None:
    if data.get("version") != SNAPSHOT_VERSION:
        raise ValueError(f"unknown surge snapshot version {data.get('version')!r}")
    if data["sketch"] != sketch_params(detector):
        raise ValueError("snapshot signatures use other sketch settings; rebuild from texts")
    detector.watermark = _parse(data["watermark"])
    detector.aliases = dict(data.get("aliases", {}))
    detector.distinct = {(a, b) for a, b in data.get("distinct", [])}
    for raw in data["clusters"]:
        _load_cluster(detector, raw)


def _dump_cluster(detector: SurgeDetector, c: _Cluster) -> dict[str, Any]:
    members = []
    for t, m in c.members.items():
        sig = detector._signatures[t] if t in c.indexed else None
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
                "reasons": list(m.reasons),
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


def _load_cluster(detector: SurgeDetector, raw: dict[str, Any]) -> None:
    cluster = _Cluster(
        raw["cluster_id"], raw["category"], fired=set(raw["fired"]), major=raw["major"],
        major_tickets=set(raw["major_tickets"]), discovered_at=_parse(raw["discovered_at"]),
        answer_due_at=_parse(raw["answer_due_at"]), answered_at=_parse(raw["answered_at"]),
        splits=raw["splits"], reasons=Counter(raw.get("reasons", {})),
    )  # fmt: skip
    for m in raw["members"]:
        member = _Member(
            m["ticket_no"], datetime.fromisoformat(m["received_at"]), m["area"], m["subject"],
            m["desk_id"], m["store_id"], m["over_level"], tuple(m.get("features", ())),
            tuple(m.get("reasons", ())),
        )  # fmt: skip
        signature = _unb64(m["signature"]) if m["signature"] is not None else None
        detector._restore_member(cluster, member, signature)
    detector._restored(cluster)
