"""surge_cluster keeps the cluster's temporary plan (text, author)

Revision ID: 0007_routing_cluster_plan
Revises: 0006_routing_surge_reasons
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_routing_cluster_plan"
down_revision: str | None = "0006_routing_surge_reasons"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("surge_cluster", schema=None) as batch_op:
        batch_op.add_column(sa.Column("temporary_plan_text", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("temporary_plan_by", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("surge_cluster", schema=None) as batch_op:
        batch_op.drop_column("temporary_plan_by")
        batch_op.drop_column("temporary_plan_text")
