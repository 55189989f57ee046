"""parked_event: consumed events waiting for what they depend on (shared.parking)

Revision ID: 0003_notify_parked_event
Revises: 0002_notify_early_message
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from shared.migrations import create_parked_event_table, drop_parked_event_table

revision: str = "0003_notify_parked_event"
down_revision: str | None = "0002_notify_early_message"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_parked_event_table()


def downgrade() -> None:
    drop_parked_event_table()
