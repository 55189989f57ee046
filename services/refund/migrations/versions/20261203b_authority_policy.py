"""policy_version, refund.charge_type and refund.policy_version: the run-time authority
policy (audited) and the rule each refund was decided under

Revision ID: 0004_refund_policy
Revises: 0003_refund_sp_paid
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.migrations import create_policy_version_table, drop_policy_version_table

revision: str = "0004_refund_policy"
down_revision: str | None = "0003_refund_sp_paid"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_policy_version_table()
    with op.batch_alter_table("refund") as batch:
        batch.add_column(sa.Column("charge_type", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("policy_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("refund") as batch:
        batch.drop_column("policy_version")
        batch.drop_column("charge_type")
    drop_policy_version_table()
