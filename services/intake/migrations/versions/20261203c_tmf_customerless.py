"""tickets without a customer (msisdn nullable) and the TMF621 caller's own severity, type
and name as columns, so the TMF facade filters them in SQL

Revision ID: 0004_intake_tmf_customerless
Revises: 0003_intake_access_audit
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_intake_tmf_customerless"
down_revision: str | None = "0003_intake_access_audit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("complaint") as batch:
        batch.alter_column("msisdn", existing_type=sa.String(20), nullable=True)
        batch.add_column(sa.Column("reported_severity", sa.String(16), nullable=True))
        batch.add_column(sa.Column("tmf_ticket_type", sa.String(64), nullable=True))
        batch.add_column(sa.Column("tmf_name", sa.String(200), nullable=True))
        batch.create_index("ix_complaint_tmf_ticket_type", ["tmf_ticket_type"])


def downgrade() -> None:
    with op.batch_alter_table("complaint") as batch:
        batch.drop_index("ix_complaint_tmf_ticket_type")
        batch.drop_column("tmf_name")
        batch.drop_column("tmf_ticket_type")
        batch.drop_column("reported_severity")
        batch.alter_column("msisdn", existing_type=sa.String(20), nullable=False)
