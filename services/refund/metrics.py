"""Refund's own metrics (a business quantity: shared/ registers only platform series)."""

from __future__ import annotations

from prometheus_client import Gauge

REFUNDS_PENDING = Gauge("refunds_pending", "Refund requests awaiting a decision")


def set_refunds_pending(count: int) -> None:
    """Set the number of refund requests awaiting a decision."""
    REFUNDS_PENDING.set(count)
