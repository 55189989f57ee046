"""parked_event: consumed events waiting for what they depend on (shared.parking)

Revision ID: 0002_refund_parked_event
Revises: 0001_refund
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from shared.migrations import create_parked_event_table, drop_parked_event_table

revision: str = "0002_refund_parked_event"
down_revision: str | None = "0001_refund"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_parked_event_table()


def downgrade() -> None:
    drop_parked_event_table()
