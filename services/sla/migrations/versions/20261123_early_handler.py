"""early_handler: handler departments read before the ticket's clocks start

Revision ID: 0002_sla_early_handler
Revises: 0001_sla
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = "0002_sla_early_handler"
down_revision: str | None = "0001_sla"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "early_handler",
        sa.Column("ticket_no", sa.String(length=32), nullable=False),
        sa.Column("handler_department", sa.String(length=64), nullable=False),
        sa.Column("at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("ticket_no", name=op.f("pk_early_handler")),
    )


def downgrade() -> None:
    op.drop_table("early_handler")
