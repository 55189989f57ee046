"""policy_version: the report targets ops change at run time (audited)

Revision ID: 0006_intake_policy_version
Revises: 0005_intake_ticket_finishes
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from shared.migrations import create_policy_version_table, drop_policy_version_table

revision: str = "0006_intake_policy_version"
down_revision: str | None = "0005_intake_ticket_finishes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_policy_version_table()


def downgrade() -> None:
    drop_policy_version_table()
