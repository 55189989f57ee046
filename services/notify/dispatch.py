"""The dispatcher: sends due notifications, each at most once, across restarts and replicas.

Each tick reads a bounded batch of due rows by index, then in one transaction applies the
contact policy (opt-out, quiet hours, rate limit) and claims the rows it will send with a
compare-and-set (`WHERE status='pending' AND lease_until IS NULL`): another replica's claim
of the same row matches nothing. Claimed rows are sent concurrently (the SMS transport
windows its submits) and the outcomes written in one more transaction. A send that may have
reached the gateway (a claim that outlives its lease: a crash mid-send; no submit answer; a
connection lost during SMTP DATA) is settled by services/notify/outcomes.py: re-sent a
bounded number of times if the rules require it (e-mail with the Message-ID recorded at
claim time), otherwise `unknown`, and ops alerted. The rate limit counts SMS
claimed but not yet sent, and on PostgreSQL replicas take turns per customer number, so
two replicas cannot both spend the same customer's allowance.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Update, func, or_, select, update

from services.notify import domain
from services.notify.clock import Clock
from services.notify.mail.transport import EmailTransport, new_message_id
from services.notify.metrics import record_notification
from services.notify.models import Notification, OptOut
from services.notify.outcomes import alert_ops, needs_alert, settle_uncertain
from services.notify.settings import NotifySettings
from services.notify.sms import parts
from services.notify.sms.transport import SendError, SmsTransport
from shared.db import Database, UnitOfWork
from shared.scheduler import claim

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Claimed:
    id: int
    channel: str
    recipient: str
    subject: str | None
    body: str
    attempts: int
    message_id: str | None = None
    """E-mail: the Message-ID recorded before the first send (the same on every re-send)."""


@dataclass
class Outcome:
    claimed: Claimed
    provider_ids: list[str] = field(default_factory=list)
    error: SendError | None = None


class Dispatcher:
    def __init__(
        self,
        db: Database,
        settings: NotifySettings,
        sms: SmsTransport,
        email: EmailTransport,
        clock: Clock,
    ) -> None:
        self.db = db
        self.settings = settings
        self.sms = sms
        self.email = email
        self.clock = clock
        self.policy = settings.contact_policy()
        self._in_flight = asyncio.Semaphore(max(settings.smpp_window * 4, 16))

    async def tick(self, now: datetime | None = None) -> int:
        """Send what is due now; returns how many due rows were handled."""
        now = now or self.clock.now()
        await self._expire_leases(now)
        await parts.reconcile_orphans(self.db)
        async with self.db.sessions() as session:
            due = list(
                (
                    await session.scalars(
                        select(Notification.id)
                        .where(
                            Notification.status == "pending",
                            Notification.send_after <= now,
                            Notification.lease_until.is_(None),
                        )
                        .order_by(Notification.send_after, Notification.id)
                        .limit(self.settings.dispatch_batch)
                    )
                ).all()
            )
        if not due:
            return 0
        claimed = await self._claim(due, now)
        outcomes = await asyncio.gather(*(self._send(c) for c in claimed))
        if outcomes:
            await self._record(list(outcomes), now)
        return len(due)

    async def _expire_leases(self, now: datetime) -> None:
        """Rows whose sender died mid-send: their outcome is unknown."""
        expired = (Notification.status == "pending") & (Notification.lease_until < now)
        async with self.db.sessions() as session:
            if await session.scalar(select(Notification.id).where(expired).limit(1)) is None:
                return  # the usual case: no write (and no SQLite write lock) per tick
        async with self.db.uow() as uow:
            rows = await uow.session.scalars(
                select(Notification).where(expired).order_by(Notification.id).limit(100)
            )
            for n in rows.all():
                await settle_uncertain(uow, n, now, "interrupted while sending", self.settings)
            await uow.commit()

    async def _claim(self, ids: list[int], now: datetime) -> list[Claimed]:
        async with self.db.uow() as uow:
            rows = list(
                (
                    await uow.session.scalars(
                        select(Notification)
                        .where(Notification.id.in_(ids))
                        .order_by(Notification.id)
                    )
                ).all()
            )
            numbers = {r.recipient for r in rows if r.channel == "sms"}
            opted = set(
                (
                    await uow.session.scalars(
                        select(OptOut.msisdn).where(OptOut.msisdn.in_(numbers))
                    )
                ).all()
            )
            await self._serialize(uow, numbers)
            recent = await self._recent_sends(uow, numbers, now)
            to_send: dict[int, Claimed] = {}
            for row in rows:
                decision = domain.decide(
                    now=now,
                    channel=row.channel,
                    urgent=row.urgent,
                    required=row.required,
                    opted_out=row.recipient in opted,
                    recent_sends=recent[row.recipient],
                    policy=self.policy,
                )
                if decision.action == "send":
                    if row.channel == "email" and not row.provider_message_id:
                        row.provider_message_id = new_message_id(self.settings.mail_from)
                    to_send[row.id] = Claimed(
                        row.id,
                        row.channel,
                        row.recipient,
                        row.subject,
                        row.body,
                        row.attempts + 1,
                        row.provider_message_id if row.channel == "email" else None,
                    )
                    recent[row.recipient].append(now)
                else:
                    await self._hold(uow, row.id, decision)
            won = await self._lease(uow, list(to_send), now)
            await uow.commit()
        return [to_send[i] for i in sorted(won)]

    async def _serialize(self, uow: UnitOfWork, numbers: set[str]) -> None:
        """On PostgreSQL, replicas claiming SMS for the same customer take turns (a lock per
        number, held to commit), so each counts the other's claims against the rate limit.
        SQLite runs one dispatcher."""
        if self.db.engine.dialect.name != "postgresql":
            return
        for number in sorted(numbers):  # one order everywhere: no deadlock
            await uow.session.execute(
                select(func.pg_advisory_xact_lock(func.hashtext(f"notify:sms:{number}")))
            )

    async def _recent_sends(
        self, uow: UnitOfWork, numbers: set[str], now: datetime
    ) -> dict[str, list[datetime]]:
        """SMS each number had in the rate-limit window: sent ones at their send time, and
        ones claimed for sending (by any replica) but not yet sent as if sent now."""
        since = now - timedelta(seconds=self.policy.rate_limit_window_s)
        recent: dict[str, list[datetime]] = defaultdict(list)
        if numbers:
            sms_to = (Notification.recipient.in_(numbers)) & (Notification.channel == "sms")
            sent = await uow.session.execute(
                select(Notification.recipient, Notification.sent_at).where(
                    sms_to,
                    or_(
                        Notification.sent_at > since,
                        (Notification.status == "pending") & Notification.lease_until.is_not(None),
                    ),
                )
            )
            for recipient, sent_at in sent.all():
                recent[recipient].append(sent_at or now)
        return recent

    @staticmethod
    def _free(*ids: int) -> Update:
        """Rows still pending and held by no dispatcher (the compare-and-set condition)."""
        return update(Notification).where(
            Notification.id.in_(ids),
            Notification.status == "pending",
            Notification.lease_until.is_(None),
        )

    async def _hold(self, uow: UnitOfWork, row_id: int, decision: domain.SendDecision) -> None:
        free = self._free(row_id)
        if decision.action == "suppress":
            await claim(uow, free.values(status="suppressed", last_error=decision.reason))
        else:
            await claim(uow, free.values(send_after=decision.until, last_error=decision.reason))

    async def _lease(self, uow: UnitOfWork, ids: list[int], now: datetime) -> set[int]:
        """Claim the rows to send in one UPDATE; RETURNING names the ones this replica won."""
        if not ids:
            return set()
        lease = now + timedelta(seconds=self.settings.send_lease_s)
        result = await uow.session.execute(
            self._free(*ids)
            .values(lease_until=lease, attempts=Notification.attempts + 1)
            .returning(Notification.id)
            .execution_options(synchronize_session=False)
        )
        return set(result.scalars())

    async def _send(self, c: Claimed) -> Outcome:
        async with self._in_flight:
            try:
                if c.channel == "sms":
                    return Outcome(c, await self.sms.send(c.recipient, c.body))
                sent = await self.email.send(
                    c.recipient, c.subject or "", c.body, message_id=c.message_id
                )
                return Outcome(c, [sent])
            except SendError as exc:
                return Outcome(c, list(exc.accepted_ids), exc)
            except Exception as exc:  # a transport bug must not strand the row in its lease
                log.exception("sending notification %s failed", c.id)
                return Outcome(c, [], SendError(f"{type(exc).__name__}: {exc}", retryable=False))

    @staticmethod
    def _after_unknown(n: Notification) -> str | None:
        """A successful re-send after an unknown outcome stays on the record."""
        if not n.uncertain_sends:
            return None
        return (
            f"sent after {n.uncertain_sends} send(s) with an unknown outcome: the recipient "
            f"may have it twice (id {n.provider_message_id})"
        )

    async def _record(self, outcomes: list[Outcome], now: datetime) -> None:
        s = self.settings
        async with self.db.uow() as uow:
            ids = [o.claimed.id for o in outcomes]
            rows = await uow.session.scalars(select(Notification).where(Notification.id.in_(ids)))
            loaded = {n.id: n for n in rows}
            for o in outcomes:
                n = loaded.get(o.claimed.id)
                if n is None:
                    continue
                n.lease_until = None
                if o.provider_ids:
                    n.provider_message_id = o.provider_ids[0]
                    n.sent_at = now
                if o.error is None:
                    n.status, n.last_error = "sent", self._after_unknown(n)
                elif o.error.uncertain:
                    await settle_uncertain(uow, n, now, str(o.error), s)
                elif o.error.retryable and o.claimed.attempts < s.send_max_attempts:
                    n.last_error = str(o.error)
                    delay = domain.retry_delay_s(o.claimed.attempts, s.send_retry_base_s)
                    n.send_after = now + timedelta(seconds=delay)
                else:
                    n.status, n.last_error = "failed", str(o.error)
                    if needs_alert(n):
                        await alert_ops(uow, n, s)
                if o.claimed.channel == "sms" and o.provider_ids:
                    await parts.record_submitted(uow, n, o.provider_ids)
            await uow.commit()
        for o in outcomes:
            record_notification(o.claimed.channel, "sent" if o.error is None else "failed")
