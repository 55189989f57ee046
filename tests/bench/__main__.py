"""Run every benchmark section: `python -m tests.bench [--quick] [section ...]`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
from pathlib import Path

from shared.broker import Broker, free_port
from shared.kafka import create_topics
from tests.bench import intake_bench, load_bench, notify_bench, sla_bench, surge_bench


async def _intake(workdir: Path, quick: bool) -> None:
    with Broker(free_port(), log_path=workdir / "broker.log") as broker:
        await create_topics(broker.bootstrap, partitions=3)
        report = await intake_bench.run(workdir, broker, n=300 if quick else 2000)
    report.print()


async def _sla(workdir: Path, quick: bool) -> None:
    (await sla_bench.run(workdir, quick=quick)).print()


async def _load(workdir: Path, quick: bool) -> None:
    (await load_bench.run(workdir, quick=quick)).print()


async def _surge(workdir: Path, quick: bool) -> None:
    del workdir
    sizes = {"window": 10_000, "baseline": 500} if quick else {}
    (await asyncio.to_thread(surge_bench.run, **sizes)).print()  # type: ignore[arg-type]


async def _notify(workdir: Path, quick: bool) -> None:
    (await notify_bench.run(workdir, quick=quick)).print()


SECTIONS = {
    "intake": _intake,
    "sla": _sla,
    "surge": _surge,
    "notify": _notify,
    "load": _load,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("sections", nargs="*", choices=[[], *SECTIONS], default=[])
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        for name in args.sections or list(SECTIONS):
            asyncio.run(SECTIONS[name](Path(tmp) / name, args.quick))


if __name__ == "__main__":
    main()
