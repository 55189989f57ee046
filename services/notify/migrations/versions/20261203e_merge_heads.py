"""merge the two notify heads made in parallel (customer e-mail, webhook entitlement)

Revision ID: 0007_notify_merge
Revises: 0006_notify_customer_email, 0006_notify_webhook_entitlement
Create Date: 2026-12-03
"""

from collections.abc import Sequence

revision: str = "0007_notify_merge"
down_revision: str | tuple[str, ...] | None = (
    "0006_notify_customer_email",
    "0006_notify_webhook_entitlement",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
