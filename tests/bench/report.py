"""A tiny table printer shared by the benchmark sections."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (0-100) of samples, by nearest rank."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered)) - 1))
    return ordered[rank]


@dataclass
class Row:
    name: str
    value: float
    unit: str
    baseline: float | None = None
    higher_is_better: bool = True

    def ratio(self) -> str:
        if not self.baseline or not self.value:
            return ""
        r = self.value / self.baseline if self.higher_is_better else self.baseline / self.value
        return f"{r:8.2f}x"


@dataclass
class Report:
    section: str
    rows: list[Row] = field(default_factory=list)

    def add(self, name: str, value: float, unit: str, **kw: float | bool | None) -> None:
        self.rows.append(Row(name, value, unit, **kw))  # type: ignore[arg-type]

    def print(self) -> None:
        print(f"\n== {self.section} ==")
        print(f"{'measure':44} {'value':>12} {'unit':10} {'baseline':>12} {'vs base':>9}")
        for r in self.rows:
            base = f"{r.baseline:12.2f}" if r.baseline is not None else " " * 12
            print(f"{r.name:44} {r.value:12.2f} {r.unit:10} {base} {r.ratio():>9}")


def summary(samples_ms: list[float]) -> tuple[float, float, float]:
    """(mean, p50, p99) of latency samples in milliseconds."""
    return statistics.fmean(samples_ms), percentile(samples_ms, 50), percentile(samples_ms, 99)


@dataclass
class Target:
    """One of issue 19's targets: a measured value against a bound (and a baseline)."""

    name: str
    value: float
    unit: str
    bound: float | None
    at_most: bool = False
    """True when the value must stay at or below the bound (CPU, latency, time)."""
    baseline: float | None = None

    def met(self) -> str:
        if self.bound is None:
            return "-"
        if self.value != self.value:  # NaN: not measured
            return "n/a"
        ok = self.value <= self.bound if self.at_most else self.value >= self.bound
        return "yes" if ok else "NO"

    def ratio(self) -> str:
        if not self.baseline or not self.value:
            return ""
        r = self.value / self.baseline if not self.at_most else self.baseline / self.value
        return f"{r:.2f}x"


TARGETS: list[Target] = []
"""Filled by the sections of one run; printed once at the end (`print_summary`)."""


def target(
    name: str,
    value: float,
    unit: str,
    *,
    bound: float | None = None,
    at_most: bool = False,
    baseline: float | None = None,
) -> None:
    """Record a target row for the summary table."""
    TARGETS.append(Target(name, value, unit, bound, at_most, baseline))


def print_summary() -> None:
    """The one table at the end of `make bench`: target, measured, baseline, ratio, met?"""
    if not TARGETS:
        return
    print("\n== summary: issue 19 targets ==")
    print(f"{'target':52} {'measured':>10} {'unit':9} {'baseline':>10} {'ratio':>8} met?")
    for t in TARGETS:
        goal = "" if t.bound is None else f"{'<=' if t.at_most else '>='}{t.bound:g}"
        base = f"{t.baseline:10.2f}" if t.baseline is not None else " " * 10
        print(
            f"{(t.name + (' ' + goal if goal else '')):52} {t.value:10.2f} {t.unit:9} {base}"
            f" {t.ratio():>8} {t.met()}"
        )
