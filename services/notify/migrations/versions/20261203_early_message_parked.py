"""early_customer_message rows become parked events (the platform replays them)

Each row kept a customer message whose trigger beat the ticket's TicketReceived. It becomes
that trigger again, under its original event id (so the message is recorded once), parked
under its ticket: refund_approved/refund_paid as RefundApproved/RefundPaid with the amount,
surge_resolved as SurgeResolved for that ticket, a status template as the status change.

Revision ID: 0004_notify_early_parked
Revises: 0003_notify_parked_event
Create Date: 2026-12-03
"""

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

import shared.db
from shared.cloudevents import Envelope
from shared.events import (
    Event,
    RefundApproved,
    RefundPaid,
    SurgeResolved,
    TicketStatusChanged,
)
from shared.migrations import park_envelope

revision: str = "0004_notify_early_parked"
down_revision: str | None = "0003_notify_parked_event"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MOVED = "moved from early_customer_message"
STATUS_OF_TEMPLATE = {
    "ticket_accepted": "accepted",
    "ticket_first_reply": "replied",
    "ticket_resolved": "resolved",
    "ticket_reopened": "reopened",
}
early = sa.table(
    "early_customer_message",
    sa.column("source_event_id"),
    sa.column("template"),
    sa.column("ticket_no"),
    sa.column("values", sa.JSON()),
    sa.column("at", shared.db.UTCDateTime()),
)


def _trigger(template: str, ticket_no: str, values: dict[str, str], at: datetime) -> Event:
    if template in ("refund_approved", "refund_paid"):
        fen = int(Decimal(values["amount_yuan"]) * 100)
        if template == "refund_approved":
            return RefundApproved(
                ticket_no=ticket_no,
                refund_id=MOVED,
                kind=MOVED,
                amount_fen=fen,
                approved_by=MOVED,
                approved_at=at,
            )
        return RefundPaid(
            ticket_no=ticket_no, refund_id=MOVED, amount_fen=fen, billing_ref=MOVED, paid_at=at
        )
    if template == "surge_resolved":
        return SurgeResolved(
            ticket_no=ticket_no,
            cluster_id=MOVED,
            resolution=values["resolution"],
            tickets=[ticket_no],
            resolved_at=at,
        )
    status = STATUS_OF_TEMPLATE[template]
    return TicketStatusChanged(
        ticket_no=ticket_no, from_status=None, to_status=status, actor=MOVED, changed_at=at
    )


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.select(early).order_by(early.c.at)).all()
    for source_event_id, template, ticket_no, values, at in rows:
        event = _trigger(template, ticket_no, values, at)
        envelope = Envelope(event=event, id=source_event_id, source="/complaints", time=at)
        reason = f"{template} before TicketReceived: no customer number yet"
        park_envelope(conn, envelope, reason=reason, parked_at=at)
    op.drop_table("early_customer_message")


def downgrade() -> None:
    # The parked events stay parked (the platform replays them); the table comes back empty.
    op.create_table(
        "early_customer_message",
        sa.Column("source_event_id", sa.String(length=64), nullable=False),
        sa.Column("template", sa.String(length=64), nullable=False),
        sa.Column("ticket_no", sa.String(length=32), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "source_event_id", "template", "ticket_no", name=op.f("pk_early_customer_message")
        ),
    )
    with op.batch_alter_table("early_customer_message", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_early_customer_message_ticket_no"), ["ticket_no"], unique=False
        )
