"""The whole system (runner: broker, five services, gateway) under load, with CPU time summed
over every process of the tree (from /proc):

- idle: no traffic at all, CPU as a share of one core;
- mixed: complaints of the 226 labelled texts, 8 in flight, until every acknowledgement SMS
  is recorded: sustained throughput, latency, CPU ms per complaint end to end;
- mass outage: complaints of one content (one cluster), the same figures and the backlog
  after the last POST;
- overload: twice the mixed throughput offered open loop: accepted latency, how fast the
  excess is refused (503 + Retry-After), nothing accepted lost, time back to normal latency.
The baseline for throughput is the bare single-INSERT endpoint measured in the same run.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.bench import intake_bench
from tests.bench.cpu import tree_cpu_s
from tests.bench.report import Report, percentile, target
from tests.builders import auth
from tests.e2e.conftest import System

TEXTS = [
    json.loads(line)["text"]
    for line in (Path(__file__).parent.parent / "data" / "complaints_labelled.jsonl")
    .read_text()
    .splitlines()
    if line.strip()
]
OUTAGE = "客户反映天河区珠江新城华夏路一带从昨晚八点开始手机完全没有信号，打不了电话也上不了网。"


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    tickets: list[str] = field(default_factory=list)
    refused: list[float] = field(default_factory=list)
    refused_ok: int = 0
    """Refusals that were 503 problem+json with a Retry-After header."""
    errors: int = 0
    wall_s: float = 0.0


async def _post(c: httpx.AsyncClient, run: Run, i: int, text: str | None) -> None:
    body = {
        "channel": "hotline",
        "msisdn": f"139{i % 100_000_000:08d}",
        "description": text or TEXTS[i % len(TEXTS)],
    }
    t0 = time.perf_counter()
    try:
        r = await c.post("/v1/complaints", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
    except httpx.HTTPError:
        run.errors += 1
        return
    ms = (time.perf_counter() - t0) * 1000
    if r.status_code == 201:
        run.latencies.append(ms)
        run.tickets.append(r.json()["ticket_no"])
    elif r.status_code == 503:
        run.refused.append(ms)
        problem = r.headers.get("content-type", "").startswith("application/problem+json")
        run.refused_ok += bool(problem and r.headers.get("retry-after"))
    else:
        run.errors += 1


async def _closed(c: httpx.AsyncClient, n: int, start: int, text: str | None) -> Run:
    """n complaints, 8 in flight."""
    run, counter = Run(), iter(range(start, start + n))

    async def worker() -> None:
        for i in counter:
            await _post(c, run, i, text)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(8)))
    run.wall_s = time.perf_counter() - t0
    return run


async def _open(
    c: httpx.AsyncClient, rate: float, seconds: float, start: int
) -> tuple[Run, list[asyncio.Task[None]]]:
    """One POST every 1/rate s for `seconds` (late answers do not slow the offered rate);
    returns when the last one is offered, with the requests still in progress."""
    run, tasks = Run(), []
    t0 = time.perf_counter()
    for i in range(int(rate * seconds)):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(_post(c, run, start + i, None)))
    run.wall_s = time.perf_counter() - t0
    return run, tasks


async def _acknowledged(c: httpx.AsyncClient, ticket_no: str) -> bool:
    r = await c.get("/v1/notifications", params={"ticket_no": ticket_no})
    return r.status_code == 200 and bool(r.json())


async def _until_all_acknowledged(
    c: httpx.AsyncClient, tickets: list[str], limit_s: float
) -> float:
    """Seconds until every ticket's acknowledgement SMS is recorded (checked newest first)."""
    t0 = time.perf_counter()
    pending = list(reversed(tickets))
    while pending and time.perf_counter() - t0 < limit_s:
        if await _acknowledged(c, pending[0]):
            pending.pop(0)
        else:
            await asyncio.sleep(0.1)
    return time.perf_counter() - t0 if not pending else float("nan")


async def _missing(c: httpx.AsyncClient, tickets: list[str]) -> int:
    """Accepted tickets without their acknowledgement SMS (nothing accepted may be lost)."""
    sem = asyncio.Semaphore(8)

    async def check(t: str) -> bool:
        async with sem:
            return await _acknowledged(c, t)

    return sum(not ok for ok in await asyncio.gather(*(check(t) for t in tickets)))


async def _idle(pid: int, seconds: float) -> float:
    """CPU of the whole tree with no traffic, in % of one core."""
    await asyncio.sleep(3)  # let start-up work settle
    c0, t0 = tree_cpu_s(pid), time.perf_counter()
    await asyncio.sleep(seconds)
    return 100 * (tree_cpu_s(pid) - c0) / (time.perf_counter() - t0)


async def _measured(
    c: httpx.AsyncClient, pid: int, n: int, start: int, text: str | None
) -> tuple[Run, float, float]:
    """(run, CPU ms per complaint end to end, backlog seconds after the last POST)."""
    c0 = tree_cpu_s(pid)
    run = await _closed(c, n, start, text)
    # the last few only: a GET per ticket would be CPU spent on measuring
    drain = await _until_all_acknowledged(c, run.tickets[-5:], 600)
    return run, (tree_cpu_s(pid) - c0) * 1000 / max(1, len(run.tickets)), drain


async def _recovery(c: httpx.AsyncClient, normal_p99_ms: float, start: int) -> float:
    """Seconds after a burst until three probes in a row answer within the normal p99."""
    t0, good, i = time.perf_counter(), 0, start
    bound = max(2 * normal_p99_ms, 100.0)
    while good < 3 and time.perf_counter() - t0 < 120:
        probe = Run()
        await _post(c, probe, i, None)
        i += 1
        good = good + 1 if probe.latencies and probe.latencies[0] <= bound else 0
        await asyncio.sleep(0.2)
    return time.perf_counter() - t0


async def run(workdir: Path, *, quick: bool) -> Report:
    n_mixed, n_outage = (150, 300) if quick else (600, 2000)
    idle_s, burst_s = (10.0, 10.0) if quick else (30.0, 30.0)
    report = Report("load: the whole system on SQLite (runner, CPU summed over its processes)")
    workdir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (setup)
    bare = await intake_bench.bare_rate(workdir, 300 if quick else 2000)
    system = System(workdir)
    await asyncio.to_thread(system.start)
    assert system.proc is not None
    pid = system.proc.pid
    try:
        async with httpx.AsyncClient(
            base_url=system.gateway,
            headers=auth("agent"),
            timeout=60,
            limits=httpx.Limits(max_connections=2000, max_keepalive_connections=200),
        ) as c:
            warm = await _closed(c, 16, 10_000_000, None)
            await _until_all_acknowledged(c, warm.tickets, 120)
            idle = await _idle(pid, idle_s)
            report.add("idle: CPU, all processes", idle, "% core")
            target("idle CPU, whole system", idle, "% core", bound=5, at_most=True)

            mixed, cpu, drain = await _measured(c, pid, n_mixed, 0, None)
            rate = len(mixed.tickets) / mixed.wall_s
            p99 = percentile(mixed.latencies, 99)
            _rows(report, "mixed", mixed, cpu, drain, bare)
            target("e2e CPU per complaint (mixed)", cpu, "ms", bound=8, at_most=True)
            target("e2e sustained throughput vs bare", rate, "req/s", bound=0.5 * bare)
            target("e2e p99 at sustained (8 in flight)", p99, "ms", bound=1000, at_most=True)

            outage, ocpu, odrain = await _measured(c, pid, n_outage, 1_000_000, OUTAGE)
            _rows(report, f"outage x{n_outage}", outage, ocpu, odrain, bare)
            target("mass outage CPU per complaint", ocpu, "ms", bound=1.5 * cpu, at_most=True)
            target("mass outage backlog after last POST", odrain, "s", bound=10, at_most=True)

            burst, in_progress = await _open(c, 2 * rate, burst_s, 2_000_000)
            recover = await _recovery(c, p99, 3_000_000)  # from the end of the burst
            await asyncio.gather(*in_progress)
            await _until_all_acknowledged(c, burst.tickets, 600)
            lost = await _missing(c, burst.tickets)
            offered = int(2 * rate * burst_s)
            report.add(f"overload: offered {2 * rate:.0f}/s for {burst_s:g} s", offered, "req")
            report.add("overload: accepted", len(burst.tickets), "req")
            report.add("overload: refused 503", len(burst.refused), "req")
            report.add("overload: other errors", burst.errors, "req")
            ap99 = percentile(burst.latencies, 99)
            rp99 = percentile(burst.refused, 99)
            report.add("overload: accepted p99", ap99, "ms")
            report.add("overload: refusal p99", rp99, "ms")
            report.add("overload: accepted but never acknowledged", lost, "req")
            report.add("overload: back to normal latency after", recover, "s")
            target("overload (2x): accepted p99", ap99, "ms", bound=1000, at_most=True)
            target("overload (2x): 503 answered within", rp99, "ms", bound=50, at_most=True)
            target(
                "overload (2x): refusals with problem+json, Retry-After",
                burst.refused_ok,
                "req",
                bound=len(burst.refused) + burst.errors,
            )
            target("overload (2x): accepted then lost", lost, "req", bound=0, at_most=True)
            target("overload: back to normal within", recover, "s", bound=10, at_most=True)
    finally:
        await asyncio.to_thread(system.stop)
    return report


def _rows(report: Report, label: str, run: Run, cpu: float, drain: float, bare: float) -> None:
    rate = len(run.tickets) / run.wall_s
    report.add(f"{label}: throughput (8 in flight)", rate, "req/s", baseline=bare)
    for q in (50, 99):
        report.add(f"{label}: latency p{q}", percentile(run.latencies, q), "ms")
    report.add(f"{label}: errors / refused", run.errors + len(run.refused), "req")
    report.add(f"{label}: CPU per complaint, end to end", cpu, "ms")
    report.add(f"{label}: last ack SMS after last POST", drain, "s")
