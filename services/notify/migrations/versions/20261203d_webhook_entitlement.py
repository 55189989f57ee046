"""webhook entitlement: a ticket's partner and SP, a subscription owner's role

Revision ID: 0006_notify_webhook_entitlement
Revises: 0005_notify_no_customer
Create Date: 2026-12-03 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_notify_webhook_entitlement"
down_revision: str | None = "0005_notify_no_customer"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ticket_contact") as batch:
        batch.add_column(sa.Column("source_org", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("sp_code", sa.String(length=32), nullable=True))
    with op.batch_alter_table("webhook_subscription") as batch:
        batch.add_column(
            sa.Column("owner_role", sa.String(length=16), nullable=False, server_default="partner")
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_subscription") as batch:
        batch.drop_column("owner_role")
    with op.batch_alter_table("ticket_contact") as batch:
        batch.drop_column("sp_code")
        batch.drop_column("source_org")
