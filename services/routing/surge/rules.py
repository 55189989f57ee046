"""The seed 004 §3.5 fast-handling rules (快速处理机制) and §3.3 major levels, as configuration.

同一个10086前台在一个班次内接到3单同内容投诉 -> shift leader; 服务厅前台在两天内接到2单 ->
marketing manager; 责任部门必须在1小时内给予初步答复; 超过50单 -> department manager; 超过200单
-> company leader (major, §3.3 (2)); 消协、省越级等单位转交的超过3单 -> major (§3.3 (6)).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time, timedelta
from enum import StrEnum
from typing import Literal

ShingleScheme = Literal["char_bigrams", "tokens", "token_pairs"]


class Rule(StrEnum):
    """Why an alert was raised; each fires at most once per cluster (and scope)."""

    FRONT_DESK = "front_desk"  # N in one shift at one 10086 desk -> shift leader
    SERVICE_HALL = "service_hall"  # N within two days at one hall -> marketing manager
    DEPARTMENT = "department"  # surge discovered -> responsible department owes a first answer
    DEPARTMENT_MANAGER = "department_manager"  # over 50 before the first answer
    COMPANY_LEADER = "company_leader"  # over 200 before the first answer: major
    OVER_LEVEL = "over_level"  # over 3 transferred by consumer association / over-level: major
    ANSWER_OVERDUE = "answer_overdue"  # no first answer within the hour


NOTIFY_ROLE = {
    Rule.FRONT_DESK: "shift_leader",
    Rule.SERVICE_HALL: "marketing_manager",
    Rule.DEPARTMENT: "responsible_department",
    Rule.DEPARTMENT_MANAGER: "department_manager",
    Rule.COMPANY_LEADER: "leader_in_charge",
    Rule.OVER_LEVEL: "leader_in_charge",
    Rule.ANSWER_OVERDUE: "department_manager",
}


@dataclass(frozen=True)
class SurgeConfig:
    """Thresholds (seed 004 §3.3, §3.5) and matcher settings; counts are inclusive unless `over`."""

    desk_count: int = 3
    hall_count: int = 2
    hall_window: timedelta = timedelta(days=2)
    first_answer_within: timedelta = timedelta(hours=1)
    department_manager_over: int = 50
    company_leader_over: int = 200
    over_level_over: int = 3
    shift_starts: tuple[time, ...] = (time(0), time(8), time(16))
    timezone: str = "Asia/Shanghai"
    window: timedelta = timedelta(days=3)
    # where the place is part of the problem (a cell, a hall): a known area must match the
    # cluster's; an SP charge or an app fault is the same problem in every district
    located_categories: frozenset[str] = frozenset({"network", "service"})
    similarity: float = 0.25
    # when an area or subject both sides know agrees, the text may be less alike
    similarity_confirmed: float = 0.2
    # when a place or product and a symptom all agree, the words hardly matter
    similarity_strong: float = 0.0
    shingles: ShingleScheme = "char_bigrams"
    num_perm: int = 128
    seed: int = 1
    lsh_bands: int = 32
    lsh_rows: int = 2
    max_indexed_per_cluster: int = 32
    candidates_per_key: int = 64  # clusters a place/product key keeps, newest first
    compare_newest: int = 4  # a key candidate's text is compared with its newest members

    def __post_init__(self) -> None:
        if not self.shift_starts:
            raise ValueError("shift_starts must name at least one shift start")
        if self.lsh_bands * self.lsh_rows > self.num_perm:
            raise ValueError("lsh_bands * lsh_rows must not exceed num_perm")
        if self.max_indexed_per_cluster < 1:
            raise ValueError("max_indexed_per_cluster must be at least 1")
