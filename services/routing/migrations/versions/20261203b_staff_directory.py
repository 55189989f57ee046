"""staff_role (the staff directory) and the cluster's first answer, major notice and
temporary-plan clock

Revision ID: 0005_routing_staff_directory
Revises: 0004_routing_parked_event
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = "0005_routing_staff_directory"
down_revision: str | None = "0004_routing_parked_event"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHEN = shared.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "staff_role",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("unit", sa.String(length=64), nullable=False),
        sa.Column("shift", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("mobile", sa.String(length=20), nullable=True),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_role")),
        sa.UniqueConstraint("role", "unit", "shift", "name", name=op.f("uq_staff_role_role")),
    )
    with op.batch_alter_table("staff_role", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_role_role"), ["role"], unique=False)
        batch_op.create_index(batch_op.f("ix_staff_role_unit"), ["unit"], unique=False)
    with op.batch_alter_table("surge_cluster", schema=None) as batch_op:
        batch_op.add_column(sa.Column("answer_text", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("answered_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("major_noticed_at", WHEN, nullable=True))
        batch_op.add_column(sa.Column("temporary_plan_due_at", WHEN, nullable=True))
        batch_op.add_column(sa.Column("temporary_plan_at", WHEN, nullable=True))
        batch_op.create_index(
            batch_op.f("ix_surge_cluster_temporary_plan_due_at"),
            ["temporary_plan_due_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("surge_cluster", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_surge_cluster_temporary_plan_due_at"))
        for column in (
            "temporary_plan_at",
            "temporary_plan_due_at",
            "major_noticed_at",
            "answered_by",
            "answer_text",
        ):
            batch_op.drop_column(column)
    op.drop_table("staff_role")
