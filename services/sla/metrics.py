"""SLA's own metrics (a business quantity: shared/ registers only platform series)."""

from __future__ import annotations

from prometheus_client import Gauge

SLA_CLOCKS = Gauge("sla_clocks", "SLA clocks by state", ("state",))


def set_sla_clocks(*, running: int, breached: int) -> None:
    """Set the SLA clock gauges (counted when /metrics is scraped)."""
    SLA_CLOCKS.labels(state="running").set(running)
    SLA_CLOCKS.labels(state="breached").set(breached)
