"""ticket_contact.email: the customer's e-mail, where given, for the result by e-mail

Revision ID: 0006_notify_customer_email
Revises: 0005_notify_no_customer
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_notify_customer_email"
down_revision: str | None = "0005_notify_no_customer"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ticket_contact") as batch:
        batch.add_column(sa.Column("email", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ticket_contact") as batch:
        batch.drop_column("email")
