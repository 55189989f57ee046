"""The retention job deletes what has outlived its period and keeps everything else: unsent
outbox rows always, sent ones for the refill window, inbox ids past the dead-letter replay
window, the delivery log for the 3 years seed 003 §4.4.2 asks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from services.notify.app import notification_log
from services.notify.models import Notification, SmsPart, platform
from services.notify.settings import NotifySettings
from shared.db import utcnow
from shared.retention import prune
from shared.settings import DLQ_RETENTION_DAYS
from tests.integration.notify.conftest import NotifyFactory

M = platform.models


def _outbox(event_id: str, *, sent_days_ago: float | None) -> object:
    sent = None if sent_days_ago is None else utcnow() - timedelta(days=sent_days_ago)
    return M.outbox(
        event_id=event_id,
        topic="t",
        key="k",
        event_type="X",
        value="{}",
        headers="[]",
        created_at=utcnow() - timedelta(days=400),
        sent_at=sent,
    )


def _notification(n: int, *, days_ago: float) -> Notification:
    return Notification(
        source_event_id=f"e{n}",
        channel="sms",
        template="ticket_registered",
        recipient="+8613800138000",
        recipient_masked="138****8000",
        body="x",
        status="delivered",
        created_at=utcnow() - timedelta(days=days_ago),
    )


async def test_expired_rows_are_pruned_and_everything_still_needed_is_kept(
    notify_app: NotifyFactory,
) -> None:
    async with notify_app() as notify:
        db, settings = notify.rt.db, notify.rt.settings
        assert isinstance(settings, NotifySettings)
        async with db.uow() as uow:
            uow.session.add_all(
                [
                    _outbox("sent-long-ago", sent_days_ago=settings.outbox_retention_days + 1),
                    _outbox("sent-recently", sent_days_ago=1),
                    _outbox("never-sent", sent_days_ago=None),
                    M.inbox(
                        event_id="seen-long-ago",
                        event_type="X",
                        topic="t",
                        processed_at=utcnow() - timedelta(days=settings.inbox_retention_days + 1),
                    ),
                    M.inbox(
                        event_id="seen-in-replay-window",
                        event_type="X",
                        topic="t",
                        processed_at=utcnow() - timedelta(days=DLQ_RETENTION_DAYS - 1),
                    ),
                    M.idempotency(
                        scope="s",
                        key="old",
                        request_hash="h",
                        status_code=201,
                        resource_id="r",
                        created_at=utcnow() - timedelta(days=8),
                    ),
                    M.idempotency(
                        scope="s", key="new", request_hash="h", status_code=201, resource_id="r"
                    ),
                    _notification(1, days_ago=3 * 365 + 2),
                    _notification(2, days_ago=365),
                ]
            )
            await uow.commit()
        async with db.uow() as uow:
            old = await uow.session.scalar(
                select(Notification.id).where(Notification.source_event_id == "e1")
            )
            uow.session.add(SmsPart(provider_message_id="m1", notification_id=old))
            await uow.commit()

        deleted = await prune(notify.rt, notification_log(settings))

        assert deleted["outbox_message"] == 1 and deleted["inbox_message"] == 1
        assert deleted["idempotency_record"] == 1 and deleted["notification"] == 1
        async with db.sessions() as s:
            outbox = set(await s.scalars(select(M.outbox.event_id)))
            inbox = set(await s.scalars(select(M.inbox.event_id)))
            keys = set(await s.scalars(select(M.idempotency.key)))
            notes = set(await s.scalars(select(Notification.source_event_id)))
            parts = await s.scalar(select(func.count()).select_from(SmsPart))
        assert outbox == {"sent-recently", "never-sent"}
        assert inbox == {"seen-in-replay-window"}
        assert keys == {"new"}
        assert notes == {"e2"} and parts == 0


def test_an_inbox_kept_shorter_than_the_dead_letter_replay_window_is_refused() -> None:
    with pytest.raises(ValueError, match="redelivery window"):
        NotifySettings(inbox_retention_days=DLQ_RETENTION_DAYS - 1)
