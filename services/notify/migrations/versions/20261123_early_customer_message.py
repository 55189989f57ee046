"""early_customer_message: customer messages read before the customer's number

Revision ID: 0002_notify_early_message
Revises: 0001_notify
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = "0002_notify_early_message"
down_revision: str | None = "0001_notify"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
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


def downgrade() -> None:
    op.drop_table("early_customer_message")
