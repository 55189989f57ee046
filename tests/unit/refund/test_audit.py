"""The refund audit chain: every kind of tampering is found, and where."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from services.refund.audit import (
    GENESIS_HASH,
    AuditBody,
    AuditEntry,
    Defect,
    canonical,
    chain,
    verify,
)
from services.refund.authority import Role

KEY = b"server-side secret, not in the database"
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def body(n: int, **overrides: Any) -> AuditBody:
    fields: dict[str, Any] = {
        "refund_id": f"RF{n % 2}",
        "action": "approved" if n % 2 else "requested",
        "actor": f"user-{n}",
        "role": Role.ROOM_MANAGER,
        "at": T0 + timedelta(minutes=n),
        "amount_fen": 10_000 + n,
        "before": {"status": "pending_approval"},
        "after": {"status": "approved", "decided_at": T0},
        "reason": "梦网订购未经用户确认，双倍返还",
    }
    fields.update(overrides)
    return AuditBody(**fields)


def build(n: int, key: bytes | None = None) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    for i in range(n):
        entries.append(chain(entries[-1] if entries else None, body(i), key=key))
    return entries


def test_an_untouched_chain_verifies() -> None:
    entries = build(5)
    result = verify(entries)
    assert result.ok and result.checked == 5 and result.first_bad_seq is None
    assert result.head_hash == entries[-1].hash


def test_the_first_entry_links_to_genesis_and_seqs_count_up() -> None:
    entries = build(3)
    assert entries[0].prev_hash == GENESIS_HASH
    assert [e.seq for e in entries] == [1, 2, 3]
    assert entries[1].prev_hash == entries[0].hash
    assert len(entries[0].hash) == 64


def test_an_empty_chain_verifies() -> None:
    assert verify([]) == verify([], key=KEY)
    assert verify([]).ok and verify([]).head_hash == GENESIS_HASH


def test_canonical_form_is_sorted_compact_utf8_json_with_utc_times() -> None:
    east8 = timezone(timedelta(hours=8))
    entry = chain(None, body(0, at=datetime(2026, 3, 1, 16, 0, tzinfo=east8)))
    text = canonical(entry).decode("utf-8")
    assert text.startswith('{"action":"requested","actor":"user-0","after":')
    assert '"at":"2026-03-01T08:00:00.000000+00:00"' in text
    assert '"decided_at":"2026-03-01T08:00:00.000000+00:00"' in text
    assert "双倍返还" in text and '"role":"room_manager"' in text
    assert entry.at == T0 and entry.at.tzinfo is not None


def test_entries_survive_a_round_trip_through_a_json_column() -> None:
    entries = build(3)
    stored = [
        replace(e, before=json.loads(json.dumps(e.before)), after=json.loads(json.dumps(e.after)))
        for e in entries
    ]
    assert verify(stored).ok


def test_naive_times_and_floats_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        chain(None, body(0, at=datetime(2026, 3, 1, 8, 0)))
    with pytest.raises(TypeError, match="float"):
        chain(None, body(0, after={"amount": 1.5}))


def test_an_entry_without_a_reason_is_refused() -> None:
    with pytest.raises(ValueError, match="reason"):
        chain(None, body(0, reason="  "))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("amount_fen", 999_900),
        ("actor", "someone-else"),
        ("reason", "edited"),
        ("at", T0 + timedelta(days=1)),
        ("after", {"status": "rejected"}),
        ("role", "leadership"),
    ],
)
def test_a_rewritten_field_is_found_at_its_row(name: str, value: Any) -> None:
    entries = build(5)
    entries[2] = replace(entries[2], **{name: value})
    result = verify(entries)
    assert not result.ok and result.first_bad_seq == 3 and result.defect is Defect.HASH
    assert result.checked == 2 and result.head_hash == entries[1].hash


def test_a_deleted_row_is_found() -> None:
    entries = build(5)
    del entries[2]
    result = verify(entries)
    assert not result.ok and result.first_bad_seq == 4 and result.defect is Defect.SEQUENCE
    assert "expected seq 3" in (result.detail or "")


def test_a_deleted_row_with_the_rest_renumbered_is_found() -> None:
    entries = build(5)
    del entries[2]
    entries = [replace(e, seq=i + 1) for i, e in enumerate(entries)]
    result = verify(entries)
    assert not result.ok and result.first_bad_seq == 3 and result.defect is Defect.LINK


def test_reordered_rows_are_found() -> None:
    entries = build(5)
    entries[1], entries[2] = entries[2], entries[1]
    result = verify(entries)
    assert not result.ok and result.first_bad_seq == 3 and result.defect is Defect.SEQUENCE


def test_rows_with_their_seqs_swapped_are_found() -> None:
    entries = build(5)
    entries[1], entries[2] = replace(entries[2], seq=2), replace(entries[1], seq=3)
    result = verify(entries)
    assert not result.ok and result.first_bad_seq == 2 and result.defect is Defect.LINK


def test_an_inserted_row_is_found() -> None:
    entries = build(5)
    forged = chain(entries[1], body(99, actor="intruder", amount_fen=500_000))
    tampered = entries[:2] + [forged] + [replace(e, seq=e.seq + 1) for e in entries[2:]]
    result = verify(tampered)
    # Without a key the forged row itself is well formed; the row after it no longer links.
    assert not result.ok and result.first_bad_seq == 4 and result.defect is Defect.LINK


def test_a_repeated_seq_is_found() -> None:
    entries = build(4)
    result = verify([*entries[:3], entries[2], entries[3]])
    assert not result.ok and result.first_bad_seq == 3 and result.defect is Defect.SEQUENCE


def test_a_rewritten_link_is_found() -> None:
    entries = build(4)
    entries[2] = replace(entries[2], prev_hash=GENESIS_HASH)
    result = verify(entries)
    assert not result.ok and result.first_bad_seq == 3 and result.defect is Defect.LINK


def test_without_a_key_a_recomputed_chain_passes_but_with_one_it_does_not() -> None:
    keyed = build(4, key=KEY)
    assert verify(keyed, key=KEY).ok
    # Someone with database access only: rewrites row 2 and re-chains with plain SHA-256.
    forged: list[AuditEntry] = [keyed[0]]
    for i in range(1, 4):
        forged.append(chain(forged[-1], body(i, amount_fen=1) if i == 1 else body(i)))
    result = verify(forged, key=KEY)
    assert not result.ok and result.first_bad_seq == 2 and result.defect is Defect.HASH
    assert verify(build(4)).ok and not verify(build(4), key=KEY).ok


def test_a_keyed_chain_finds_an_inserted_row_at_the_forgery() -> None:
    entries = build(5, key=KEY)
    forged = chain(entries[1], body(99, actor="intruder"))
    result = verify([*entries[:2], forged, *entries[2:]], key=KEY)
    assert not result.ok and result.first_bad_seq == 3 and result.defect is Defect.HASH


def test_verifying_from_a_trusted_anchor_checks_only_what_follows() -> None:
    entries = build(6)
    assert verify(entries[3:], anchor=entries[2]).ok
    result = verify(entries[4:], anchor=entries[2])
    assert not result.ok and result.first_bad_seq == 5
