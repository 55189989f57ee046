"""seed the default department directory and responsibility matrix

Revision ID: 0002_routing_seed
Revises: 0001_routing
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# the data as of this revision (a migration must not change when the code does)
DEPARTMENTS = [
    ("frontdesk_10086", "10086 front desk", "front_desk", "shift_leader_10086"),
    ("service_hall", "Service halls", "service_hall", "marketing_manager"),
    ("network_maintenance", "Network maintenance", "back_office", "mgr_network"),
    ("billing_support", "Billing support", "back_office", "mgr_billing"),
    ("value_added", "Value-added / SP business", "back_office", "mgr_value_added"),
    ("marketing", "Marketing and tariffs", "back_office", "mgr_marketing"),
    ("service_management", "Service management", "back_office", "mgr_service"),
    ("device_support", "Device support", "back_office", "mgr_device"),
    ("leadership", "Company leadership", "leadership", "leader_in_charge"),
]
MATRIX = {
    "network": "network_maintenance",
    "billing": "billing_support",
    "value_added": "value_added",
    "tariff": "marketing",
    "business": "service_management",
    "service": "service_management",
    "device": "device_support",
}

revision: str = "0002_routing_seed"
down_revision: str | None = "0001_routing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

department = sa.table(
    "department", sa.column("code"), sa.column("name"), sa.column("kind"), sa.column("manager")
)
rule = sa.table("responsibility_rule", sa.column("category"), sa.column("department_code"))


def upgrade() -> None:
    op.bulk_insert(
        department,
        [
            {"code": code, "name": name, "kind": kind, "manager": manager}
            for code, name, kind, manager in DEPARTMENTS
        ],
    )
    op.bulk_insert(rule, [{"category": c, "department_code": d} for c, d in MATRIX.items()])


def downgrade() -> None:
    op.execute(rule.delete())
    op.execute(department.delete())
