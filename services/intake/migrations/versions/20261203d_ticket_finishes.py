"""ticket finishes: resolved/closed/archive-due/archived/anonymised instants on complaint

Revision ID: 0005_intake_ticket_finishes
Revises: 0004_intake_tmf_customerless
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision: str = "0005_intake_ticket_finishes"
down_revision: str | None = "0004_intake_tmf_customerless"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("resolved_at", "closed_at", "archive_due_at", "archived_at", "anonymised_at")
INDEXES = {
    "ix_complaint_status_resolved": "resolved_at",
    "ix_complaint_status_archive_due": "archive_due_at",
    "ix_complaint_status_archived": "archived_at",
}


def upgrade() -> None:
    with op.batch_alter_table("complaint") as batch:
        for name in COLUMNS:
            batch.add_column(sa.Column(name, UTCDateTime(timezone=True), nullable=True))
    for index, column in INDEXES.items():
        op.create_index(index, "complaint", ["status", column])


def downgrade() -> None:
    for index in INDEXES:
        op.drop_index(index, table_name="complaint")
    with op.batch_alter_table("complaint") as batch:
        for name in COLUMNS:
            batch.drop_column(name)
