"""parked_event replaces early_breach: its rows become parked SlaBreached events

Revision ID: 0004_routing_parked_event
Revises: 0003_routing_early_breach
Create Date: 2026-12-03
"""

import json
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db
from shared.cloudevents import Envelope
from shared.events import SlaBreached
from shared.migrations import create_parked_event_table, drop_parked_event_table, park_envelope

revision: str = "0004_routing_parked_event"
down_revision: str | None = "0003_routing_early_breach"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REASON = "SlaBreached before the ticket was dispatched"
early_breach = sa.table(
    "early_breach",
    sa.column("ticket_no"),
    sa.column("clock"),
    sa.column("at", shared.db.UTCDateTime()),
)


def upgrade() -> None:
    create_parked_event_table()
    conn = op.get_bind()
    for ticket_no, clock, at in conn.execute(
        sa.select(early_breach.c.ticket_no, early_breach.c.clock, early_breach.c.at).order_by(
            early_breach.c.at
        )
    ):
        event = SlaBreached(ticket_no=ticket_no, clock=clock, due_at=at)
        event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"early_breach/{ticket_no}/{clock}"))
        envelope = Envelope(event=event, id=event_id, source="/complaints/sla", time=at)
        park_envelope(conn, envelope, reason=REASON, parked_at=at)
    op.drop_table("early_breach")


def downgrade() -> None:
    op.create_table(
        "early_breach",
        sa.Column("ticket_no", sa.String(length=32), nullable=False),
        sa.Column("clock", sa.String(length=32), nullable=False),
        sa.Column("at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("ticket_no", "clock", name=op.f("pk_early_breach")),
    )
    conn = op.get_bind()
    rows = conn.execute(
        sa.text("SELECT value, parked_at FROM parked_event WHERE event_type = 'SlaBreached'")
    ).all()
    seen: set[tuple[str, str]] = set()
    for value, parked_at in rows:
        data = json.loads(value)
        key = (data["ticket_no"], data["clock"])
        if key not in seen:
            seen.add(key)
            conn.execute(early_breach.insert().values(ticket_no=key[0], clock=key[1], at=parked_at))
    drop_parked_event_table()
