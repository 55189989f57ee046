"""surge reasons: why each member joined its cluster, and the corrections ops taught

Revision ID: 0006_routing_surge_reasons
Revises: 0005_routing_staff_directory
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = "0006_routing_surge_reasons"
down_revision: str | None = "0005_routing_staff_directory"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("surge_cluster", schema=None) as batch_op:
        batch_op.add_column(sa.Column("members", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("reasons", sa.JSON(), nullable=True))
    op.create_table(
        "surge_correction",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("cluster_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "name", "value", name=op.f("pk_surge_correction")),
    )


def downgrade() -> None:
    op.drop_table("surge_correction")
    with op.batch_alter_table("surge_cluster", schema=None) as batch_op:
        batch_op.drop_column("reasons")
        batch_op.drop_column("members")
