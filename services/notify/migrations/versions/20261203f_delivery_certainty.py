"""inbound_message (customers' SMS applied once) and notification.uncertain_sends

Revision ID: 0008_notify_delivery_certainty
Revises: 0007_notify_merge
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = "0008_notify_delivery_certainty"
down_revision: str | None = "0007_notify_merge"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbound_message",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("sender_masked", sa.String(20), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("ticket_no", sa.String(32), nullable=True),
        sa.Column("received_at", shared.db.UTCDateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_inbound_message_key", "inbound_message", ["key", "received_at"])
    with op.batch_alter_table("notification") as batch:
        batch.add_column(
            sa.Column("uncertain_sends", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("notification") as batch:
        batch.drop_column("uncertain_sends")
    op.drop_index("ix_inbound_message_key", table_name="inbound_message")
    op.drop_table("inbound_message")
