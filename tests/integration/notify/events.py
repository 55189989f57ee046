"""Event builders for the notify tests (one customer, one ticket unless told otherwise)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.cloudevents import Envelope
from shared.events import (
    Event,
    ProgressNoticeDue,
    RefundApproved,
    RefundPaid,
    SlaBreached,
    SlaClock,
    SlaClocksStarted,
    SlaWarning,
    SurgeResolved,
    TicketClassified,
    TicketEscalated,
    TicketReceived,
    TicketStatusChanged,
)

MSISDN = "+8613800138000"
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def env(event: Event) -> Envelope:
    return Envelope(event=event)


def received(ticket_no: str, msisdn: str = MSISDN, **kw: Any) -> Envelope:
    values: dict[str, Any] = {
        "ticket_no": ticket_no,
        "channel": "hotline",
        "msisdn": msisdn,
        "msisdn_masked": f"{msisdn[3:6]}****{msisdn[-4:]}",
        "description": f"家里信号很差，经常掉线，回电{msisdn[3:]}",
        "accepting_department": "frontdesk_10086",
        "received_at": NOW,
    }
    values.update(kw)
    return env(TicketReceived(**values))


def clocks(ticket_no: str) -> Envelope:
    due = {"acceptance": NOW + timedelta(hours=24), "first_reply": NOW + timedelta(days=9)}
    due["resolution"] = NOW + timedelta(days=28)
    return env(
        SlaClocksStarted(
            ticket_no=ticket_no,
            clocks=[SlaClock(name=n, due_at=d, state="running") for n, d in due.items()],
        )
    )


def classified(ticket_no: str, severity: str = "normal") -> Envelope:
    return env(
        TicketClassified(
            ticket_no=ticket_no,
            category="network",
            confidence=0.9,
            rule="test",
            severity=severity,
            major=False,
            channel="hotline",
            accepting_department="frontdesk_10086",
            received_at=NOW,
        )
    )


def status(ticket_no: str, to: str, from_: str | None = None, **kw: Any) -> Envelope:
    return env(
        TicketStatusChanged(
            ticket_no=ticket_no,
            from_status=from_,
            to_status=to,
            actor="agent-1",
            changed_at=kw.pop("at", NOW),
            **kw,
        )
    )


def refund_approved(ticket_no: str, fen: int) -> Envelope:
    return env(
        RefundApproved(
            ticket_no=ticket_no,
            refund_id="r-1",
            kind="sp_charge",
            amount_fen=fen,
            approved_by="mgr",
            approved_at=NOW,
        )
    )


def refund_paid(ticket_no: str, fen: int) -> Envelope:
    return env(
        RefundPaid(
            ticket_no=ticket_no, refund_id="r-1", amount_fen=fen, billing_ref="B1", paid_at=NOW
        )
    )


def surge_resolved(tickets: list[str], resolution: str = "基站故障已修复") -> Envelope:
    return env(
        SurgeResolved(
            ticket_no=tickets[0],
            cluster_id="c-1",
            resolution=resolution,
            tickets=tickets,
            resolved_at=NOW,
        )
    )


def escalated(ticket_no: str) -> Envelope:
    return env(
        TicketEscalated(
            ticket_no=ticket_no,
            trigger="sla_breach",
            reason="first_reply deadline passed",
            supervisor="mgr_network",
            handler_department="network_maintenance",
            escalated_at=NOW,
        )
    )


def sla_warning(ticket_no: str) -> Envelope:
    return env(
        SlaWarning(
            ticket_no=ticket_no,
            clock="first_reply",
            threshold="75%",
            due_at=NOW + timedelta(days=1),
            handler_department="network_maintenance",
        )
    )


def sla_breached(ticket_no: str) -> Envelope:
    return env(
        SlaBreached(
            ticket_no=ticket_no,
            clock="resolution",
            due_at=NOW,
            handler_department="network_maintenance",
        )
    )


def progress_notice(ticket_no: str) -> Envelope:
    return env(
        ProgressNoticeDue(
            ticket_no=ticket_no,
            owner_department="frontdesk_10086",
            handler_department="network_maintenance",
            days_open=4,
            due_at=NOW,
        )
    )
