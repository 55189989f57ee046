"""The audit chain in the database: record refund changes, append under a lock, read, and
verify in batches."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.refund.audit import AuditBody, AuditEntry, VerifyResult, chain, verify
from services.refund.models import AuditRecord, Refund
from services.refund.settings import RefundRules
from shared.db import UnitOfWork

_ENTRY_FIELDS = tuple(f.name for f in fields(AuditEntry))
# One lock per schema, so test schemas (and tenants) sharing a server do not queue.
_PG_CHAIN_LOCK = text(
    "SELECT pg_advisory_xact_lock(hashtext(current_schema() || :chain))"
).bindparams(chain=".refund_audit")


def as_entry(record: AuditRecord) -> AuditEntry:
    return AuditEntry(**{name: getattr(record, name) for name in _ENTRY_FIELDS})


async def append(uow: UnitOfWork, body: AuditBody, *, key: bytes) -> AuditEntry:
    """Chain `body` onto the newest entry, in the caller's transaction.

    Call it last in a transaction: it flushes the caller's changes (taking their row locks)
    and then holds the chain lock until commit, so locks are always taken in one order.
    On SQLite the Database already serialises writers; the primary key on `seq` turns
    any other race into a failed insert rather than a fork."""
    session = uow.session
    await session.flush()
    if not uow.db.is_sqlite:
        await session.execute(_PG_CHAIN_LOCK)
    last = await session.scalar(select(AuditRecord).order_by(AuditRecord.seq.desc()).limit(1))
    entry = chain(None if last is None else as_entry(last), body, key=key)
    session.add(AuditRecord(**{name: getattr(entry, name) for name in _ENTRY_FIELDS}))
    await session.flush()
    return entry


def snapshot(refund: Refund) -> dict[str, Any]:
    """The audited state of a refund."""
    return {
        "ticket_no": refund.ticket_no,
        "kind": refund.kind,
        "charge_type": refund.charge_type,
        "policy_version": refund.policy_version,
        "status": refund.status,
        "payout_fen": refund.payout_fen,
        "total_fen": refund.total_fen,
        "required_role": refund.required_role,
        "user_type": refund.user_type,
        "decided_by": refund.decided_by,
        "escalated_to": refund.escalated_to,
        "billing_ref": refund.billing_ref,
    }


async def record(
    uow: UnitOfWork,
    rules: RefundRules,
    refund: Refund,
    *,
    action: str,
    actor: str,
    role: str | None,
    at: datetime,
    before: dict[str, Any] | None,
    reason: str,
) -> None:
    """Append the audit entry for a change to `refund` (last, in the same transaction)."""
    body = AuditBody(
        refund_id=refund.id,
        action=action,
        actor=actor,
        role=role,
        at=at,
        amount_fen=refund.amount_fen,
        before=before,
        after=snapshot(refund),
        reason=reason,
    )
    await append(uow, body, key=rules.audit_key)


async def entries_of(session: AsyncSession, refund_id: str) -> list[AuditRecord]:
    rows = await session.scalars(
        select(AuditRecord).where(AuditRecord.refund_id == refund_id).order_by(AuditRecord.seq)
    )
    return list(rows.all())


async def verify_chain(
    session: AsyncSession, *, key: bytes, batch: int = 1000
) -> tuple[VerifyResult, int | None]:
    """Verify the whole chain in seq order, a batch at a time; also the seq of the last
    intact entry (None when there is none)."""
    anchor: AuditEntry | None = None
    checked = 0
    while True:
        query = select(AuditRecord).order_by(AuditRecord.seq).limit(batch)
        if anchor is not None:
            query = query.where(AuditRecord.seq > anchor.seq)
        entries = [as_entry(r) for r in (await session.scalars(query)).all()]
        result = verify(entries, key=key, anchor=anchor)
        intact = entries[result.checked - 1] if result.checked else anchor
        checked += result.checked
        if not result.ok or len(entries) < batch:
            return replace(result, checked=checked), None if intact is None else intact.seq
        anchor = intact
