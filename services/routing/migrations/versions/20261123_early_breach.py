"""early_breach: SLA breaches that arrive before the ticket is dispatched

Revision ID: 0003_routing_early_breach
Revises: 0002_routing_seed
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = "0003_routing_early_breach"
down_revision: str | None = "0002_routing_seed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "early_breach",
        sa.Column("ticket_no", sa.String(length=32), nullable=False),
        sa.Column("clock", sa.String(length=32), nullable=False),
        sa.Column("at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("ticket_no", "clock", name=op.f("pk_early_breach")),
    )


def downgrade() -> None:
    op.drop_table("early_breach")
