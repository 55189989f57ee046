"""Routing rules: the dispatch table (dispatch.json), priority, escalation and access. No I/O
beyond reading the dispatch table's data file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from shared.access import Scope

# The department directory lives in routing's database (seeded by the migration
# 20261122_seed_departments, changed by ops with PUT /v1/departments/{code}, audited).
DISPATCH_PATH = Path(__file__).with_name("dispatch.json")


@dataclass(frozen=True)
class ProductRule:
    """Complaints of these categories naming one of these products go to `department`."""

    products: frozenset[str]
    categories: frozenset[str]
    department: str
    source: str = ""


@dataclass(frozen=True)
class DispatchTable:
    """The dispatch table as data (dispatch.json): category defaults, fallback, product rules."""

    categories: dict[str, str]
    fallback: str
    products: tuple[ProductRule, ...] = ()

    @classmethod
    def load(cls, path: Path = DISPATCH_PATH) -> DispatchTable:
        raw = json.loads(path.read_text(encoding="utf-8"))
        rules = tuple(
            ProductRule(
                products=frozenset(r["products"]),
                categories=frozenset(r["categories"]),
                department=r["department"],
                source=r.get("source", ""),
            )
            for r in raw.get("products", [])
        )
        return cls(categories=dict(raw["categories"]), fallback=raw["fallback"], products=rules)


DEFAULT_DISPATCH = DispatchTable.load()
DEFAULT_MATRIX = DEFAULT_DISPATCH.categories
FALLBACK_DEPARTMENT = DEFAULT_DISPATCH.fallback


def responsible_department(
    category: str,
    matrix: dict[str, str],
    product: str | None = None,
    table: DispatchTable = DEFAULT_DISPATCH,
) -> tuple[str, str]:
    """部门问责制: the department answerable for the complaint, and why it was chosen: a
    product rule, else the live category matrix, else the fallback."""
    for rule in table.products:
        if product in rule.products and category in rule.categories:
            return rule.department, f"product:{product}"
    if category in matrix:
        return matrix[category], f"matrix:{category}"
    return table.fallback, f"fallback:{category}"


def priority(severity: str, major: bool, over_level: bool) -> int:
    """Queue order: urgent first, then major, then over-level (越级), then the rest."""
    if severity == "urgent":
        return 0
    if major or severity == "major":
        return 1
    return 2 if over_level else 3


@dataclass(frozen=True)
class EscalationPolicy:
    """Who supervises, and when routing escalates by itself (责任追究)."""

    ping_pong_transfers: int = 3
    """The transfer that makes a ticket ping-pong (the third by default) escalates it: buck-
    passing goes to the manager (seed 004 §2.3, 推诿扯皮; the seed gives no count)."""
    progress_notice_after_days: int = 4
    """A fix open longer than this owes the complaining department a progress notice...
    (seed 004 §3.5: 解决投诉处理时间超过4天以上的投诉, 通过邮件方式(固定模板)通报处理进度)"""
    progress_notice_every_days: int = 1
    """...and another every period until it is closed (no seed number: daily)."""
    temporary_plan_within_minutes: int = 60
    """A defect-caused major complaint's temporary plan is due within this many minutes
    (seed 004 §3.3: 在1小时内作出临时处理方案)."""
    defect_categories: tuple[str, ...] = ("network", "business", "billing")
    """Major complaints in these categories come from a product/service/system defect."""


def supervisor_for(trigger: str, severity: str, handler_manager: str, leader: str) -> str:
    """Conflict (urgent) and major complaints go to the leader in charge at once; the
    rest to the handler department's manager."""
    if severity == "urgent" or trigger in ("major", "temporary_plan_missed"):
        return leader
    return handler_manager


@dataclass(frozen=True)
class AccessRules:
    """Who may transfer, escalate or claim a ticket (部门问责制, seed 004 ch. 2; seed 003 §4.5):
    its owner or handling department's staff, managers over their units, leadership anywhere."""

    department_roles: frozenset[str] = frozenset({"agent", "frontline"})
    manager_roles: frozenset[str] = frozenset({"room_manager", "centre_manager"})
    act_all_roles: frozenset[str] = frozenset({"leadership"})
    read_all_roles: frozenset[str] = frozenset({"leadership", "ops"})


def act_scope(
    roles: frozenset[str], dept: str | None, units: frozenset[str], rules: AccessRules
) -> Scope:
    """The tickets a caller may move (by their owner and handler departments)."""
    if roles & rules.act_all_roles:
        return Scope.all()
    departments: set[str] = set()
    if roles & rules.manager_roles:
        departments |= units
    if roles & rules.department_roles and dept:
        departments.add(dept)
    return Scope(departments=frozenset(departments))


def read_scope(
    roles: frozenset[str], dept: str | None, units: frozenset[str], rules: AccessRules
) -> Scope:
    if roles & rules.read_all_roles:
        return Scope.all()
    return act_scope(roles, dept, units, rules)
