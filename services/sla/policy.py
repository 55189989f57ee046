"""The SLA policy as typed data: which clocks run for which complaint, and their limits.

One home for every time limit in the seeds. Each row is commented with its seed file and
section. Rows are tried in order and, for each clock, the first row matching the complaint
wins (a matching row that is disabled switches that clock off for such complaints). Every
clock needs a catch-all row, so a newcomer sees every clock the seeds name, on or off.

Overrides: `SLA_POLICY__...` (nested env, whole lists as JSON, e.g.
`SLA_POLICY__EXTENSION__MAX_WORKING_DAYS=5`) replace the defaults; at run time ops change
the policy with the audited `PUT /v1/sla/policy`, which applies to complaints received after
the change (each clock snapshots its limit when it starts).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.sla.clock import Limit, LimitUnit
from shared.events import ClockName

Severity = Literal["normal", "urgent", "major"]
CLOCK_ORDER: tuple[str, ...] = ClockName.__args__  # type: ignore[attr-defined]

# When each clock starts (receipt, or the ticket reaching a status) and which ticket
# statuses stop it (met). Facts of the lifecycle, not numbers: kept beside the policy.
STARTS_ON: dict[str, str] = {"result_feedback": "resolved", "archive": "resolved"}
_REPLIED = ("replied", "resolved", "closed")
_RESOLVED = ("resolved", "closed")
MET_ON: dict[str, tuple[str, ...]] = {
    "acceptance": ("accepted", "in_progress", *_REPLIED),
    "confirmation": ("accepted", "in_progress", *_REPLIED),
    "sp_acknowledge": ("accepted", "in_progress", *_REPLIED),
    "initial_investigation": ("in_progress", *_REPLIED),
    "first_reply": _REPLIED,
    "regulator": _REPLIED,
    "sp_answer": _REPLIED,
    "agent_promise": _REPLIED,
    "resolution": _RESOLVED,
    "detailed_investigation": _RESOLVED,
    "closed_loop": ("closed",),
    "result_feedback": ("closed",),
    "archive": ("archived",),
}


class LimitSpec(BaseModel):
    """A limit as data: `amount` minutes, hours, working days or calendar days."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    unit: LimitUnit
    amount: int = Field(gt=0, le=10_000)

    def limit(self) -> Limit:
        return Limit(self.unit, self.amount)


class ClockRule(BaseModel):
    """One row: the clock, its limit, whether it runs, and the complaints it matches
    (`None` criteria match anything)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    clock: ClockName
    limit: LimitSpec
    enabled: bool = True
    severity: Severity | None = None
    channel: str | None = Field(None, max_length=32)
    category: str | None = Field(None, max_length=32)
    over_level: bool | None = None
    source: str = Field("", max_length=300, description="Seed file and section")

    def matches(self, severity: str, channel: str, category: str | None, over_level: bool) -> bool:
        return (
            self.severity in (None, severity)
            and self.channel in (None, channel)
            and self.category in (None, category)
            and self.over_level in (None, over_level)
        )

    @property
    def catch_all(self) -> bool:
        return (self.severity, self.channel, self.category, self.over_level) == (None,) * 4


class ExtensionPolicy(BaseModel):
    """Extending a clock (延期): seed 003 §4.1 says a major complaint's handling limit may be
    extended (可适当延长) with the reason explained to the customer."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    clocks: tuple[ClockName, ...] = ("resolution",)
    severities: tuple[Severity, ...] = ("major",)
    """Seed 003 §4.1 allows it for major complaints only."""
    roles: tuple[str, ...] = ("room_manager", "centre_manager", "leadership")
    """Who may extend: the supervising level above the handler (seed 003 §3.1.4, 督办)."""
    max_working_days: int = Field(10, ge=1, le=250)
    """Total extension per clock. The seed gives no number: 10 working days keeps an extended
    major complaint within 30 working days of receipt, the closed-loop limit of 003 §3.3.3."""


def _r(clock: ClockName, unit: LimitUnit, amount: int, source: str, **kw: object) -> ClockRule:
    return ClockRule.model_validate(
        {"clock": clock, "limit": {"unit": unit, "amount": amount}, "source": source, **kw}
    )


H: LimitUnit = "hours"
WD: LimitUnit = "working_days"
CD: LimitUnit = "calendar_days"

DEFAULT_RULES: tuple[ClockRule, ...] = (
    # Urgent (conflict/safety): seed 000 §3(3) reports it to the emergency leadership group at
    # once (立即上报应急领导小组; routing escalates at classification) and seed 004 §3.3 gives
    # the responsible department 1 hour for a temporary plan. Accepting the complaint has to
    # come before both, so its acceptance limit is that same hour.
    _r("acceptance", H, 1, "000 §3(3), 004 §3.3 (1-hour temporary plan)", severity="urgent"),
    _r("acceptance", H, 24, "003 §3.1.4 (24小时内受理)"),
    _r("first_reply", WD, 7, "003 §4.1 (7个工作日内首次答复)"),
    _r("resolution", WD, 20, "003 §4.1 (20个工作日内办结); major: extendable, ExtensionPolicy"),
    # Not from the seeds: the MIIT telecom-user appeal rules (电信用户申诉处理办法) let a
    # customer without an answer appeal to 12300 after 15 days; we watch that line.
    _r("regulator", CD, 15, "MIIT 电信用户申诉处理办法 (appeal after 15 days), not a seed"),
    # The seeds' other clocks: rows so ops can switch them on, off by default.
    _r("initial_investigation", H, 48, "003 §3.1.4 (48小时内完成初步调查)", enabled=False),
    _r("confirmation", "minutes", 10, "003 §4.2.1 (10分钟内确认投诉内容)", enabled=False),
    _r("detailed_investigation", WD, 15, "003 §3.2.3 (15个工作日)", enabled=False),
    _r("closed_loop", WD, 30, "003 §3.3.3 (30个工作日内闭环)", enabled=False),
    _r("result_feedback", WD, 2, "003 §4.2.1 (办结后2个工作日内反馈)", enabled=False),
    _r("archive", WD, 3, "003 §3.5.3 (办结后3个工作日内归档)", enabled=False),
    _r("sp_acknowledge", WD, 1, "002 SP complaints (1个工作日内受理)", enabled=False),
    _r("sp_answer", WD, 7, "002 SP complaints (7个工作日内答复)", enabled=False),
    _r("agent_promise", H, 48, "002 agent script (48小时给您答复)", enabled=False),
)


class SlaPolicy(BaseModel):
    """Clocks × severity/channel/category, each enabled or not, plus the extension rule."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    rules: tuple[ClockRule, ...] = DEFAULT_RULES
    extension: ExtensionPolicy = ExtensionPolicy()

    @model_validator(mode="after")
    def _every_clock_has_a_catch_all(self) -> SlaPolicy:
        fallback = {r.clock for r in self.rules if r.catch_all}
        missing = {r.clock for r in self.rules} - fallback
        if missing:
            raise ValueError(f"clocks without a catch-all row: {sorted(missing)}")
        return self

    def limits(
        self,
        *,
        severity: str,
        channel: str,
        category: str | None = None,
        over_level: bool = False,
        starts_on: str = "received",
    ) -> dict[str, Limit]:
        """The limit of every enabled clock starting on `starts_on` for this complaint."""
        chosen: dict[str, ClockRule] = {}
        for rule in self.rules:
            if rule.clock not in chosen and rule.matches(severity, channel, category, over_level):
                chosen[rule.clock] = rule
        return {
            name: chosen[name].limit.limit()
            for name in CLOCK_ORDER
            if name in chosen
            and chosen[name].enabled
            and STARTS_ON.get(name, "received") == starts_on
        }


DEFAULT_POLICY = SlaPolicy()


class ExtensionRefused(ValueError):
    """An extension the policy does not allow; `field` names the offending input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def check_extension(
    policy: SlaPolicy, *, clock: str, severity: str, already: int, working_days: int
) -> None:
    """Raise unless `working_days` more on `clock` stays within the policy's maximum."""
    if clock not in policy.extension.clocks:
        raise ExtensionRefused("clock", f"the {clock} clock cannot be extended")
    if severity not in policy.extension.severities:
        allowed = ", ".join(sorted(policy.extension.severities))
        raise ExtensionRefused("clock", f"only {allowed} complaints may be extended")
    left = policy.extension.max_working_days - already
    if working_days > left:
        raise ExtensionRefused(
            "working_days",
            f"at most {policy.extension.max_working_days} working days in all; {left} left",
        )


def met_by(status: str, clocks: Iterable[str]) -> list[str]:
    """The clocks among `clocks` that a ticket reaching `status` stops."""
    return [c for c in clocks if status in MET_ON.get(c, ())]
