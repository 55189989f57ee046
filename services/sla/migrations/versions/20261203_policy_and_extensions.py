"""policy_version and clock_extension: run-time SLA policy (audited) and extensions (延期)

Revision ID: 0004_sla_policy
Revises: 0003_sla_parked_event
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db
from shared.migrations import create_policy_version_table, drop_policy_version_table

revision: str = "0004_sla_policy"
down_revision: str | None = "0003_sla_parked_event"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_policy_version_table()
    op.create_table(
        "clock_extension",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_no", sa.String(length=32), nullable=False),
        sa.Column("clock", sa.String(length=32), nullable=False),
        sa.Column("working_days", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("extended_by", sa.String(length=64), nullable=False),
        sa.Column("extended_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("old_due_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("new_due_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clock_extension")),
    )
    op.create_index(op.f("ix_clock_extension_ticket_no"), "clock_extension", ["ticket_no"])


def downgrade() -> None:
    op.drop_table("clock_extension")
    drop_policy_version_table()
