"""parked_event replaces early_handler: its rows become parked TicketAssigned events

Revision ID: 0003_sla_parked_event
Revises: 0002_sla_early_handler
Create Date: 2026-12-03
"""

import json
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db
from shared.cloudevents import Envelope
from shared.events import TicketAssigned
from shared.migrations import create_parked_event_table, drop_parked_event_table, park_envelope

revision: str = "0003_sla_parked_event"
down_revision: str | None = "0002_sla_early_handler"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REASON = "TicketAssigned before the clocks started"
early_handler = sa.table(
    "early_handler",
    sa.column("ticket_no"),
    sa.column("handler_department"),
    sa.column("at", shared.db.UTCDateTime()),
)


def upgrade() -> None:
    create_parked_event_table()
    conn = op.get_bind()
    for ticket_no, department, at in conn.execute(
        sa.select(
            early_handler.c.ticket_no, early_handler.c.handler_department, early_handler.c.at
        ).order_by(early_handler.c.at)
    ):
        # SLA reads only the handler department; the owner was not kept by early_handler.
        event = TicketAssigned(
            ticket_no=ticket_no,
            owner_department=department,
            handler_department=department,
            reason="moved from early_handler",
            assigned_at=at,
        )
        event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"early_handler/{ticket_no}"))
        envelope = Envelope(event=event, id=event_id, source="/complaints/routing", time=at)
        park_envelope(conn, envelope, reason=REASON, parked_at=at)
    op.drop_table("early_handler")


def downgrade() -> None:
    op.create_table(
        "early_handler",
        sa.Column("ticket_no", sa.String(length=32), nullable=False),
        sa.Column("handler_department", sa.String(length=64), nullable=False),
        sa.Column("at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("ticket_no", name=op.f("pk_early_handler")),
    )
    conn = op.get_bind()
    latest: dict[str, tuple[str, object]] = {}
    for value, parked_at in conn.execute(
        sa.text(
            "SELECT value, parked_at FROM parked_event"
            " WHERE event_type IN ('TicketAssigned', 'TicketTransferred') ORDER BY id"
        )
    ).all():
        data = json.loads(value)
        department = data.get("handler_department") or data.get("to_department")
        latest[data["ticket_no"]] = (department, parked_at)
    for ticket_no, (department, at) in latest.items():
        conn.execute(
            early_handler.insert().values(ticket_no=ticket_no, handler_department=department, at=at)
        )
    drop_parked_event_table()
