"""The webhook sender: signed POSTs of due deliveries, with retries, logging and disabling.

Each tick claims due deliveries of active subscriptions with a compare-and-set lease (a crashed
replica's lease simply expires: webhooks are at-least-once, receivers dedupe by `webhook-id`),
POSTs them concurrently without following redirects, and records every attempt, the next
attempt time (Standard Webhooks schedule, jitter, Retry-After) and what it does to the
subscription (410 or days of failure disable it and its owner is told by e-mail).
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import or_, select, update
from standardwebhooks import Webhook

from services.notify.clock import Clock
from services.notify.metrics import record_notification
from services.notify.models import (
    Notification,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from services.notify.recording import mask_email
from services.notify.settings import NotifySettings
from services.notify.templates import template
from services.notify.webhooks import policy
from services.notify.webhooks.catalogue import tmf_listener_path
from services.notify.webhooks.ssrf import (
    Resolver,
    SSRFProtectionError,
    UnsafeTarget,
    check_target,
    resolve,
)
from shared.db import Database, UnitOfWork
from shared.scheduler import claim


@dataclass(frozen=True)
class Job:
    delivery_id: int
    webhook_id: str
    url: str
    payload: str
    secrets: tuple[str, ...]
    attempt_no: int


@dataclass(frozen=True)
class Sent:
    job: Job
    result: policy.AttemptResult
    at: datetime
    duration_ms: int
    excerpt: str | None


def signature(webhook_id: str, at: datetime, payload: str, secrets: tuple[str, ...]) -> str:
    """`v1,<sig>` per secret, space-separated: both during a secret rotation."""
    return " ".join(Webhook(s).sign(webhook_id, at, payload) for s in secrets)


class WebhookSender:
    def __init__(
        self,
        db: Database,
        settings: NotifySettings,
        http: httpx.AsyncClient,
        clock: Clock,
        *,
        rng: random.Random | None = None,
        resolver: Resolver = resolve,
    ) -> None:
        self.db = db
        self.settings = settings
        self.http = http
        self.clock = clock
        self.rng = rng or random.Random()
        self.resolver = resolver
        self._in_flight = asyncio.Semaphore(settings.webhook_concurrency)

    async def tick(self, now: datetime | None = None) -> int:
        now = now or self.clock.now()
        async with self.db.sessions() as session:
            due = list(
                (
                    await session.scalars(
                        select(WebhookDelivery.id)
                        .join(WebhookSubscription)
                        .where(
                            WebhookDelivery.status == "pending",
                            WebhookDelivery.next_attempt_at <= now,
                            or_(
                                WebhookDelivery.lease_until.is_(None),
                                WebhookDelivery.lease_until < now,
                            ),
                            WebhookSubscription.status == "active",
                        )
                        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                        .limit(self.settings.webhook_batch)
                    )
                ).all()
            )
        if not due:
            return 0
        jobs = await self._claim(due, now)
        sent = await asyncio.gather(*(self._post(job) for job in jobs))
        if sent:
            await self._record(list(sent), now)
        return len(due)

    async def _claim(self, ids: list[int], now: datetime) -> list[Job]:
        """One compare-and-set UPDATE for the batch; RETURNING names the rows this replica won
        (a concurrent claimer's UPDATE re-checks the lease and skips them)."""
        lease = now + timedelta(seconds=self.settings.webhook_lease_s)
        async with self.db.uow() as uow:
            won = (
                await uow.session.execute(
                    update(WebhookDelivery)
                    .where(
                        WebhookDelivery.id.in_(ids),
                        WebhookDelivery.status == "pending",
                        or_(
                            WebhookDelivery.lease_until.is_(None),
                            WebhookDelivery.lease_until < now,
                        ),
                    )
                    .values(
                        lease_until=lease,
                        attempts=WebhookDelivery.attempts + 1,
                        round_attempts=WebhookDelivery.round_attempts + 1,
                    )
                    .returning(WebhookDelivery.id)
                    .execution_options(synchronize_session=False)
                )
            ).scalars()
            won_ids = list(won)
            rows = (
                await uow.session.execute(
                    select(WebhookDelivery, WebhookSubscription)
                    .join(WebhookSubscription)
                    .where(WebhookDelivery.id.in_(won_ids))
                    .order_by(WebhookDelivery.id)
                    .execution_options(populate_existing=True)
                )
            ).all()
            await uow.commit()
        return [self._job(d, sub, now) for d, sub in rows]

    @staticmethod
    def _job(d: WebhookDelivery, sub: WebhookSubscription, now: datetime) -> Job:
        url = sub.url
        if sub.kind == "tmf621":
            url = url.rstrip("/") + tmf_listener_path(d.event_type)
        secrets = [sub.secret]
        if sub.previous_secret and sub.previous_secret_until and sub.previous_secret_until > now:
            secrets.append(sub.previous_secret)
        return Job(d.id, d.webhook_id, url, d.payload, tuple(secrets), d.attempts)

    async def _post(self, job: Job) -> Sent:
        async with self._in_flight:
            at = datetime.now(UTC)  # the signature carries the real send time
            started = time.perf_counter()
            try:
                async with asyncio.timeout(self.settings.webhook_total_timeout_s):
                    result, excerpt = await self._attempt(job, at)
            except TimeoutError:
                result, excerpt = policy.AttemptResult(None, error="timed out (total)"), None
            except Exception as exc:
                result = policy.AttemptResult(None, error=f"{type(exc).__name__}: {exc}"[:300])
                excerpt = None
            duration = int((time.perf_counter() - started) * 1000)
            return Sent(job, result, at, duration, excerpt)

    async def _attempt(self, job: Job, at: datetime) -> tuple[policy.AttemptResult, str | None]:
        try:
            await check_target(
                job.url,
                allow_private=self.settings.private_targets_allowed,
                require_https=self.settings.production,
                resolver=self.resolver,
            )
        except UnsafeTarget as exc:
            return policy.AttemptResult(None, error=f"refused: target {exc}"), None
        headers = {
            "content-type": "application/json",
            "webhook-id": job.webhook_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": signature(job.webhook_id, at, job.payload, job.secrets),
            "user-agent": "complaints-10086-notify/1.0",
        }
        try:
            async with self.http.stream(
                "POST", job.url, content=job.payload.encode(), headers=headers
            ) as response:
                body = await self._bounded_body(response)
        except SSRFProtectionError as exc:  # the address connected to was not public
            return policy.AttemptResult(None, error=f"refused: target {exc}"), None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return policy.AttemptResult(None, error=f"{type(exc).__name__}: {exc}"), None
        retry_after = response.headers.get("retry-after")
        excerpt = body.decode("utf-8", errors="replace")[:500]
        return policy.AttemptResult(response.status_code, retry_after), excerpt

    async def _bounded_body(self, response: httpx.Response) -> bytes:
        """At most `webhook_response_max_bytes` of the body; the rest is never read."""
        limit = self.settings.webhook_response_max_bytes
        body = b""
        async for chunk in response.aiter_raw():
            body += chunk
            if len(body) >= limit:
                break
        return body[:limit]

    async def _record(self, sent: list[Sent], now: datetime) -> None:
        s = self.settings
        async with self.db.uow() as uow:
            ids = [item.job.delivery_id for item in sent]
            pairs = (
                await uow.session.execute(
                    select(WebhookDelivery, WebhookSubscription)
                    .join(WebhookSubscription)
                    .where(WebhookDelivery.id.in_(ids))
                )
            ).all()
            loaded = {d.id: (d, sub) for d, sub in pairs}
            for item in sent:
                if item.job.delivery_id not in loaded:
                    continue
                d, sub = loaded[item.job.delivery_id]
                verdict = policy.judge(
                    item.result,
                    round_attempts=d.round_attempts,
                    now=now,
                    failing_since=sub.failing_since,
                    disable_after_s=s.webhook_disable_after_failing_s,
                    max_retry_after_s=s.webhook_max_retry_after_s,
                    rng=self.rng,
                )
                self._log(uow, item, verdict)
                d.lease_until, d.last_status_code = None, item.result.status_code
                d.next_attempt_at = verdict.next_attempt_at
                if verdict.delivered:
                    d.status, d.finished_at, sub.failing_since = "delivered", now, None
                    continue
                sub.failing_since = sub.failing_since or now
                if verdict.next_attempt_at is None:
                    d.status, d.finished_at = "failed", now
                if verdict.disable_reason:
                    await self._disable(uow, sub, verdict.disable_reason, now)
            await uow.commit()
        for item in sent:
            ok = item.result.status_code is not None and 200 <= item.result.status_code < 300
            record_notification("webhook", "sent" if ok else "failed")

    def _log(self, uow: UnitOfWork, item: Sent, verdict: policy.Verdict) -> None:
        uow.session.add(
            WebhookAttempt(
                delivery_id=item.job.delivery_id,
                attempt_no=item.job.attempt_no,
                attempted_at=item.at,
                duration_ms=item.duration_ms,
                status_code=item.result.status_code,
                succeeded=verdict.delivered,
                error=item.result.error
                or (None if verdict.delivered else f"HTTP {item.result.status_code}"),
                response_excerpt=item.excerpt,
                next_attempt_at=verdict.next_attempt_at,
            )
        )

    async def _disable(
        self, uow: UnitOfWork, sub: WebhookSubscription, reason: str, now: datetime
    ) -> None:
        """Disable once (compare-and-set) and e-mail the owner why."""
        won = await claim(
            uow,
            update(WebhookSubscription)
            .where(
                WebhookSubscription.id == sub.id,
                WebhookSubscription.status.in_(("active", "paused")),
            )
            .values(status="disabled", disabled_reason=reason, updated_at=now),
        )
        if not won:
            return
        to = sub.owner_email or self.settings.ops_email
        values = {"subscription_id": sub.id, "url": sub.url, "reason": reason}
        rendered = template("webhook_disabled").render(values)
        uow.session.add(
            Notification(
                ticket_no=None,
                source_event_id=str(uuid.uuid4()),
                channel="email",
                template="webhook_disabled",
                recipient=to,
                recipient_masked=mask_email(to),
                subject=rendered.subject,
                body=rendered.body,
                status="pending",
                urgent=False,
                required=True,
                attempts=0,
                send_after=now,
            )
        )
