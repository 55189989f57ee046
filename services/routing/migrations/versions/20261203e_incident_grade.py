"""incident: grade, cause, resolution, who closed it and how many complaints it held

Revision ID: 0008_routing_incident_grade
Revises: 0007_routing_cluster_plan
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_routing_incident_grade"
down_revision: str | None = "0007_routing_cluster_plan"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("grade", sa.String(length=32), nullable=False, server_default="general")
        )
        batch_op.add_column(sa.Column("cause", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("resolution", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("closed_by", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("ticket_count", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.alter_column("grade", server_default=None)
        batch_op.alter_column("ticket_count", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("incident", schema=None) as batch_op:
        for column in ("ticket_count", "closed_by", "resolution", "cause", "grade"):
            batch_op.drop_column(column)
