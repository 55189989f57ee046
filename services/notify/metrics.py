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


DELIVERY_ALERTS = Counter(
    "notify_delivery_alerts",
    "Notifications ops were alerted about: outcome unknown after the bounded re-sends, or a "
    "required message failed for good",
    ("channel", "outcome"),
)


def record_alert(channel: str, outcome: str) -> None:
    """Count one ops alert about a notification that may not have reached its recipient."""
    DELIVERY_ALERTS.labels(channel=channel, outcome=outcome).inc()
