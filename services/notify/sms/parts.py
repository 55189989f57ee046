"""Submitted SMS segments and their delivery receipts, folded into the notification's status:
delivered once every segment is, failed as soon as one fails for good."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select

from services.notify.models import Notification, SmsPart
from services.notify.sms.transport import DeliveryReceipt
from shared.db import Database, UnitOfWork, utcnow

ORPHAN_TTL = timedelta(days=1)


def _status(receipt: DeliveryReceipt) -> str:
    if receipt.delivered is None:
        return "sent"
    return "delivered" if receipt.delivered else "failed"


async def refresh(uow: UnitOfWork, notification_id: int) -> None:
    """Recompute a sent notification's status from its segments."""
    n = await uow.session.get(Notification, notification_id)
    if n is None or n.status not in ("sent", "delivered"):
        return
    statuses = (
        await uow.session.scalars(
            select(SmsPart.status).where(SmsPart.notification_id == notification_id)
        )
    ).all()
    if any(s == "failed" for s in statuses):
        stats = await uow.session.scalars(
            select(SmsPart.receipt_stat).where(
                SmsPart.notification_id == notification_id, SmsPart.status == "failed"
            )
        )
        n.status, n.last_error = "failed", f"delivery receipt: {', '.join(filter(None, stats))}"
    elif statuses and all(s == "delivered" for s in statuses):
        n.status = "delivered"


async def record_submitted(uow: UnitOfWork, n: Notification, provider_ids: list[str]) -> None:
    """The segments the gateway accepted; adopts receipts that arrived before this."""
    for part_no, provider_id in enumerate(provider_ids, start=1):
        orphan = await uow.session.scalar(
            select(SmsPart)
            .where(SmsPart.provider_message_id == provider_id, SmsPart.notification_id.is_(None))
            .order_by(SmsPart.id.desc())
            .limit(1)
        )
        if orphan is not None:
            orphan.notification_id, orphan.part_no = n.id, part_no
        else:
            uow.session.add(
                SmsPart(
                    provider_message_id=provider_id,
                    notification_id=n.id,
                    part_no=part_no,
                    status="sent",
                )
            )
    await uow.session.flush()
    await refresh(uow, n.id)


async def apply_receipt(uow: UnitOfWork, receipt: DeliveryReceipt) -> None:
    part = await uow.session.scalar(
        select(SmsPart)
        .where(SmsPart.provider_message_id == receipt.provider_message_id)
        .order_by(SmsPart.notification_id.is_(None), SmsPart.id.desc())
        .limit(1)
    )
    if part is None:
        uow.session.add(
            SmsPart(
                provider_message_id=receipt.provider_message_id,
                notification_id=None,
                part_no=0,
                status=_status(receipt),
                receipt_stat=receipt.stat,
            )
        )
        return
    if receipt.delivered is not None or part.status == "sent":
        part.status, part.receipt_stat = _status(receipt), receipt.stat
    if part.notification_id is not None:
        await uow.session.flush()
        await refresh(uow, part.notification_id)


async def reconcile_orphans(db: Database) -> None:
    """Receipts that raced a concurrent submit record (another replica): fold them in."""
    async with db.sessions() as session:
        orphans = (
            await session.scalars(
                select(SmsPart).where(SmsPart.notification_id.is_(None)).limit(100)
            )
        ).all()
    if not orphans:
        return
    async with db.uow() as uow:
        for orphan in orphans:
            owner = await uow.session.scalar(
                select(SmsPart).where(
                    SmsPart.provider_message_id == orphan.provider_message_id,
                    SmsPart.notification_id.is_not(None),
                )
            )
            if owner is not None:
                if orphan.status != "sent":
                    owner.status, owner.receipt_stat = orphan.status, orphan.receipt_stat
                await uow.session.execute(delete(SmsPart).where(SmsPart.id == orphan.id))
                await uow.session.flush()
                assert owner.notification_id is not None
                await refresh(uow, owner.notification_id)
            elif orphan.created_at < utcnow() - ORPHAN_TTL:
                await uow.session.execute(delete(SmsPart).where(SmsPart.id == orphan.id))
        await uow.commit()
