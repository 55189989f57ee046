"""policy_version, refund.charge_type and refund.policy_version: the run-time authority
policy (audited) and the rule each refund was decided under

Revision ID: 0004_refund_policy
Revises: 0003_refund_sp_paid
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = "0004_refund_policy"
down_revision: str | None = "0003_refund_sp_paid"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "policy_version",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("previous", sa.JSON(), nullable=True),
        sa.Column("changed_by", sa.String(length=64), nullable=False),
        sa.Column("changed_at", shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_version")),
    )
    op.create_index(op.f("ix_policy_version_name"), "policy_version", ["name"])
    with op.batch_alter_table("refund") as batch:
        batch.add_column(sa.Column("charge_type", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("policy_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("refund") as batch:
        batch.drop_column("policy_version")
        batch.drop_column("charge_type")
    op.drop_table("policy_version")
