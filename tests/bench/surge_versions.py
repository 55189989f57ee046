"""The surge detector before and after issue 18, side by side in one process (issue 19).

"old" is the text-only detector of commit 23713e0 (MinHash over jieba tokens, the last one
before place/symptom/product features), read from git history into a temporary package, so
the repository does not carry a second copy. "new" is the one in services/routing/surge.
Each is filled by `observe` with the same synthetic stream (tests.bench.surge_bench.stream) up
to `held` complaints, under tracemalloc (memory per held complaint = traced memory after the
fill / held), then tracemalloc stops and a batch of the next complaints is timed.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from types import ModuleType
from typing import Any

from tests.bench.report import Report
from tests.bench.surge_bench import stream

OLD_COMMIT = "23713e0"
PACKAGE = "services/routing/surge"
ROOT = Path(__file__).resolve().parents[2]


def old_surge() -> ModuleType | None:
    """The old detector's package, or None when git history is not at hand."""
    try:
        names = subprocess.run(
            ["git", "-C", str(ROOT), "ls-tree", "-r", "--name-only", OLD_COMMIT, PACKAGE],
            check=True, capture_output=True, text=True,
        ).stdout.split()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    target = Path(tempfile.mkdtemp(prefix="surge-old-")) / "surge_v1"
    for name in names:
        text = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{OLD_COMMIT}:{name}"],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        path = target / Path(name).relative_to(PACKAGE)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.replace("services.routing.surge", "surge_v1"), encoding="utf-8")
    sys.path.insert(0, str(target.parent))
    return importlib.import_module("surge_v1")


def _measure(module: Any, held: int, batch: int) -> tuple[float, float]:
    """(complaints/s with `held` in the window, KiB traced per held complaint)."""
    labelled = stream(held + batch, seed=7)
    as_theirs = [module.Complaint(**vars(c)) for c, _ in labelled]
    detector = module.SurgeDetector()
    detector.observe(as_theirs[0])  # jieba's dictionary is not the window's cost
    detector = module.SurgeDetector()
    tracemalloc.start()
    for complaint in as_theirs[:held]:
        detector.observe(complaint)
    traced = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    t0 = time.perf_counter()
    for complaint in as_theirs[held:]:
        detector.observe(complaint)
    return batch / (time.perf_counter() - t0), traced / held / 1024


def run(*, held: int = 20_000, batch: int = 1_000) -> Report:
    report = Report(f"surge: old (text only, {OLD_COMMIT}) vs new detector, {held} held")
    import services.routing.surge as new

    old = old_surge()
    rate_new, kib_new = _measure(new, held, batch)
    if old is None:
        report.add("old detector: not measured (no git history)", 0.0, "")
    else:
        rate_old, kib_old = _measure(old, held, batch)
        report.add(f"old detector: throughput, {held} held", rate_old, "compl/s")
        report.add(f"old detector: memory per held complaint, {held} held", kib_old, "KiB")
    baseline = None if old is None else rate_old
    report.add(f"new detector: throughput, {held} held", rate_new, "compl/s", baseline=baseline)
    report.add(f"new detector: memory per held complaint, {held} held", kib_new, "KiB")
    return report


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    run(held=5_000 if quick else 20_000, batch=500 if quick else 1_000).print()
