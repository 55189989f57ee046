"""ticket_contact.no_customer_reason: tickets without a customer get no customer message

Revision ID: 0005_notify_no_customer
Revises: 0004_notify_early_parked
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_notify_no_customer"
down_revision: str | None = "0004_notify_early_parked"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ticket_contact") as batch:
        batch.add_column(sa.Column("no_customer_reason", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ticket_contact") as batch:
        batch.drop_column("no_customer_reason")
