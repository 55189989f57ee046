"""Append-only, hash-chained audit of refund decisions: who, when, amount, why. No I/O.

Each entry's hash covers the previous entry's hash and the entry's canonical body:

    hash = SHA-256(prev_hash + canonical(body))            without a key
    hash = HMAC-SHA-256(key, prev_hash + canonical(body))  with a key

where canonical(body) is sorted-keys compact JSON in UTF-8 of seq, refund_id, action,
actor, role, at, amount_fen, before, after and reason, datetimes as ISO-8601 UTC with
microseconds. The first entry links to GENESIS_HASH.

Rewriting a field, deleting, inserting or reordering rows breaks the chain at that point.
Without a key, someone who can write the table can still recompute every hash after their
change; with a server-side key (kept out of the database, e.g. REFUND_AUDIT_KEY) they
cannot. Neither form notices the newest rows being cut off: compare the head with a copy
kept elsewhere (e.g. the last hash published in an event) for that. Rotating the key means
verifying the old chain with the old key and starting a new chain.

Keep one chain per service (not per refund), appended under a lock on the last row, so that
deleting every row of one refund is noticed too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from enum import Enum, StrEnum
from typing import Any

GENESIS_HASH = "0" * 64
JsonDict = dict[str, Any]


@dataclass(frozen=True)
class AuditBody:
    """What happened: the part of an entry the caller supplies."""

    refund_id: str
    action: str  # e.g. requested, approved, rejected, paid
    actor: str
    role: str | None
    at: datetime
    amount_fen: int | None
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    reason: str


@dataclass(frozen=True)
class AuditEntry:
    """One stored row of the audit chain."""

    seq: int
    refund_id: str
    action: str
    actor: str
    role: str | None
    at: datetime
    amount_fen: int | None
    before: JsonDict | None
    after: JsonDict | None
    reason: str
    prev_hash: str
    hash: str


class Defect(StrEnum):
    SEQUENCE = "sequence"  # seq is not the next number: a row deleted, inserted or moved
    LINK = "link"  # prev_hash is not the previous row's hash: a row removed or moved
    HASH = "hash"  # the row does not match its own hash: a field rewritten


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int  # entries found intact before the first defect
    head_hash: str  # hash of the last intact entry (GENESIS_HASH or the anchor's if none)
    first_bad_seq: int | None = None  # seq of the first row that does not verify
    defect: Defect | None = None
    detail: str | None = None


def to_jsonable(value: Any) -> Any:
    """A JSON-native copy that survives a JSON column unchanged (so hashes still match)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Enum):
        return to_jsonable(value.value)
    if isinstance(value, datetime):
        return utc_iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("audit dict keys must be strings")
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    # Floats and Decimals do not round-trip exactly; money is integer fen.
    raise TypeError(f"cannot audit a value of type {type(value).__name__}")


def utc_iso(moment: datetime) -> str:
    """'2026-01-01T08:00:00.000000+00:00': one fixed form for every instant."""
    if moment.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def canonical(entry: AuditEntry) -> bytes:
    """The bytes an entry's hash covers, besides prev_hash."""
    body = {
        "seq": entry.seq,
        "refund_id": entry.refund_id,
        "action": entry.action,
        "actor": entry.actor,
        "role": entry.role,
        "at": utc_iso(entry.at),
        "amount_fen": entry.amount_fen,
        "before": to_jsonable(entry.before),
        "after": to_jsonable(entry.after),
        "reason": entry.reason,
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def compute_hash(entry: AuditEntry, key: bytes | None = None) -> str:
    """The hex digest an entry should carry, given its prev_hash and body."""
    message = entry.prev_hash.encode("utf-8") + canonical(entry)
    if key is None:
        return hashlib.sha256(message).hexdigest()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def chain(prev: AuditEntry | None, body: AuditBody, *, key: bytes | None = None) -> AuditEntry:
    """The entry that follows `prev` (None for the first entry) recording `body`."""
    for name in ("refund_id", "action", "actor", "reason"):
        if not str(getattr(body, name)).strip():
            raise ValueError(f"{name}: must not be empty")
    if isinstance(body.amount_fen, bool):
        raise TypeError("amount_fen must be integer fen")
    draft = AuditEntry(
        seq=1 if prev is None else prev.seq + 1,
        refund_id=body.refund_id,
        action=body.action,
        actor=body.actor,
        role=None if body.role is None else str(body.role),
        at=datetime.fromisoformat(utc_iso(body.at)),
        amount_fen=body.amount_fen,
        before=to_jsonable(body.before),
        after=to_jsonable(body.after),
        reason=body.reason,
        prev_hash=GENESIS_HASH if prev is None else prev.hash,
        hash="",
    )
    return replace(draft, hash=compute_hash(draft, key))


def verify(
    entries: Sequence[AuditEntry],
    *,
    key: bytes | None = None,
    anchor: AuditEntry | None = None,
) -> VerifyResult:
    """Walk the chain in the given (seq) order and report the first row that breaks it.

    `anchor` is a trusted entry just before `entries`, to verify only what came after it.
    """
    expected_seq = 1 if anchor is None else anchor.seq + 1
    expected_prev = GENESIS_HASH if anchor is None else anchor.hash
    for checked, entry in enumerate(entries):
        problem = _first_defect(entry, expected_seq, expected_prev, key)
        if problem is not None:
            defect, detail = problem
            return VerifyResult(
                ok=False,
                checked=checked,
                head_hash=expected_prev,
                first_bad_seq=entry.seq,
                defect=defect,
                detail=detail,
            )
        expected_seq, expected_prev = entry.seq + 1, entry.hash
    return VerifyResult(ok=True, checked=len(entries), head_hash=expected_prev)


def _first_defect(
    entry: AuditEntry, expected_seq: int, expected_prev: str, key: bytes | None
) -> tuple[Defect, str] | None:
    if entry.seq != expected_seq:
        how = "missing rows" if entry.seq > expected_seq else "a repeated or moved row"
        return Defect.SEQUENCE, f"expected seq {expected_seq}, found {entry.seq} ({how})"
    if not _same(entry.prev_hash, expected_prev):
        return Defect.LINK, f"seq {entry.seq} does not link to the previous row"
    try:
        digest = compute_hash(entry, key)
    except (TypeError, ValueError) as exc:
        return Defect.HASH, f"seq {entry.seq} cannot be serialised: {exc}"
    if not _same(entry.hash, digest):
        return Defect.HASH, f"seq {entry.seq} does not match its hash (a field was changed)"
    return None


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
