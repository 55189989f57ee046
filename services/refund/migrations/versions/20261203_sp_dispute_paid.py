"""sp_dispute.paid: whether the disputed SP charge was already paid (seed 002)

Revision ID: 0003_refund_sp_paid
Revises: 0002_refund_parked_event
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_refund_sp_paid"
down_revision: str | None = "0002_refund_parked_event"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sp_dispute") as batch:
        batch.add_column(sa.Column("paid", sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table("sp_dispute") as batch:
        batch.drop_column("paid")
