"""Intake rules: classification, severity, over-level and major judgements. No I/O."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import get_args

import chinese_calendar

from services.intake.classifier import detect_urgent
from services.intake.policy import MajorPolicy
from shared.access import Scope
from shared.events import Category, Channel
from shared.time import SHANGHAI

RULES_PATH = Path(__file__).with_name("classification_rules.json")

CHANNELS: tuple[Channel, ...] = get_args(Channel)
CATEGORIES: tuple[Category, ...] = get_args(Category)


@dataclass(frozen=True)
class Rules:
    keywords: dict[str, tuple[str, ...]]
    weights: dict[str, float]
    default_category: str
    urgent_keywords: tuple[str, ...]
    over_level_channels: frozenset[str]
    media_channels: frozenset[str] = frozenset()
    """A complaint arriving through these comes from the media: major, seed 004 §3.3 (1)."""


@lru_cache
def load_rules(path: Path = RULES_PATH) -> Rules:
    data = json.loads(path.read_text(encoding="utf-8"))
    cats = data["categories"]
    return Rules(
        keywords={c: tuple(v["keywords"]) for c, v in cats.items()},
        weights={c: float(v["weight"]) for c, v in cats.items()},
        default_category=data["default_category"],
        urgent_keywords=tuple(data["urgent_keywords"]),
        over_level_channels=frozenset(data["over_level_channels"]),
        media_channels=frozenset(data.get("media_channels", ())),
    )


def is_media(channel: str, rules: Rules | None = None) -> bool:
    """A complaint the media brought (媒体介入): major by seed 004 §3.3 criterion 1."""
    return channel in (rules or load_rules()).media_channels


def is_over_level(channel: str, rules: Rules | None = None) -> bool:
    """越级投诉: the complaint came via a regulator, consumer association, petition or media."""
    return channel in (rules or load_rules()).over_level_channels


@dataclass(frozen=True)
class MajorFacts:
    media_involved: bool = False
    lawsuit: bool = False
    business_disrupted: bool = False
    joint_complainants: int = 0


@dataclass(frozen=True)
class Severity:
    level: str
    major: bool
    reasons: list[str] = field(default_factory=list)


def judge_severity(text: str, facts: MajorFacts, policy: MajorPolicy | None = None) -> Severity:
    """Major per DOMAIN.md criteria known at intake; urgent on conflict/safety language."""
    policy = policy or MajorPolicy()
    reasons = []
    if facts.media_involved:
        reasons.append("media_involved")
    if facts.business_disrupted:
        reasons.append("business_disrupted")
    if facts.lawsuit:
        reasons.append("lawsuit")
    if facts.joint_complainants > policy.joint_complainants_over:
        reasons.append("joint_complaint")
    urgent = detect_urgent(text).urgent
    if urgent:
        reasons.append("conflict_or_safety")
    level = "urgent" if urgent else ("major" if reasons else "normal")
    return Severity(level, bool(reasons), reasons)


def new_ticket_no(received_at: datetime) -> str:
    """投诉编码: 'TS' + Shanghai date (yymmdd) + 7 random digits, e.g. TS2611220482913."""
    day = received_at.astimezone(SHANGHAI).strftime("%y%m%d")
    return f"TS{day}{secrets.randbelow(10_000_000):07d}"


ROLES_SEEING_FULL_MSISDN = frozenset({"agent", "frontline"})
"""Roles that talk to the customer and so may see the full number (others see it masked)."""


@dataclass(frozen=True)
class AccessRules:
    """Who reaches which complaints: seed 003 §4.5 (职责与权限) and §6.5 (保密), seed 004 ch. 2
    (首问负责制, 部门问责制). Role names are the token's `roles`."""

    department_roles: frozenset[str] = frozenset({"agent", "frontline"})
    """Act on and read tickets their department accepted (owner) or handles."""
    manager_roles: frozenset[str] = frozenset({"room_manager", "centre_manager"})
    """Their department's tickets and its sub-units'."""
    read_all_roles: frozenset[str] = frozenset({"leadership", "ops"})
    act_all_roles: frozenset[str] = frozenset({"leadership"})
    full_msisdn_roles: frozenset[str] = ROLES_SEEING_FULL_MSISDN
    """See the full number on tickets in their scope (every such read is audited)."""
    msisdn_search_roles: frozenset[str] = frozenset(
        {"agent", "frontline", "room_manager", "centre_manager", "leadership", "ops"}
    )
    """May search by a full number (`?msisdn=`, audited)."""
    partner_roles: frozenset[str] = frozenset({"partner"})
    """Read (and add notes to) only tickets they transferred in or that concern their SP."""


@dataclass(frozen=True)
class Caller:
    """The facts about a principal that access rules use (no token, no settings)."""

    roles: frozenset[str]
    dept: str | None = None
    department_units: frozenset[str] = frozenset()
    partner_orgs: frozenset[str] = frozenset()
    sp_codes: frozenset[str] = frozenset()


def read_scope(caller: Caller, rules: AccessRules) -> Scope:
    """The complaints `caller` may read."""
    scope = act_scope(caller, rules)
    if caller.roles & rules.read_all_roles:
        return Scope.all()
    if caller.roles & rules.partner_roles:
        scope = scope.union(Scope(source_orgs=caller.partner_orgs, sp_codes=caller.sp_codes))
    return scope


def act_scope(caller: Caller, rules: AccessRules) -> Scope:
    """The complaints `caller` may run lifecycle commands on (partners: none)."""
    if caller.roles & rules.act_all_roles:
        return Scope.all()
    scope = Scope.nothing()
    if caller.roles & rules.manager_roles:
        scope = scope.union(Scope(departments=caller.department_units))
    if caller.roles & rules.department_roles and caller.dept:
        scope = scope.union(Scope(departments=frozenset({caller.dept})))
    return scope


def sees_full_msisdn(caller: Caller, rules: AccessRules) -> bool:
    """Whether the number shows unmasked on complaints the caller may read."""
    return bool(caller.roles & rules.full_msisdn_roles)


# --- every ticket finishes (seed 003 §3.5.3, §4.4.2) -----------------------------------
def _is_workday(day: date) -> bool:
    """A Chinese working day (调休 included) by the State Council's published arrangement;
    Monday to Friday for a year not published yet (the SLA service flags those provisional)."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return day.weekday() < 5


def archive_due(closed_at: datetime, working_days: int) -> datetime:
    """ "Archived within N working days of completion": 24:00 Shanghai at the end of the Nth
    working day after the closing day (the closing day itself never counts), as UTC."""
    day = closed_at.astimezone(SHANGHAI).date()
    left = working_days
    while left > 0:
        day += timedelta(days=1)
        left -= _is_workday(day)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=SHANGHAI)
    return end.astimezone(UTC)


def retention_cutoff(now: datetime, years: int) -> datetime:
    """Archived before this instant, a ticket's customer data has been kept `years` years."""
    try:
        return now.replace(year=now.year - years)
    except ValueError:  # 29 February
        return now.replace(year=now.year - years, day=28)


ANONYMISED = "已匿名"
"""What replaces a customer's words and numbers after the retention period."""
