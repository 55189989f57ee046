"""Notify's own metrics (deliveries: shared/ registers only platform series)."""

from __future__ import annotations

from typing import Literal

from prometheus_client import Counter

NOTIFICATIONS = Counter(
    "notifications_total", "Notification deliveries by channel and outcome", ("channel", "outcome")
)


def record_notification(channel: str, outcome: Literal["sent", "failed"]) -> None:
    """Count one SMS, e-mail or webhook delivery outcome."""
    NOTIFICATIONS.labels(channel=channel, outcome=outcome).inc()
