"""A load run against the whole system (runner: broker, five services, gateway) at a fixed
offered rate for a bounded time: achieved throughput and latency percentiles for complaint
registration, next to the gateway's own health endpoint at the same rate (the baseline:
what the processes and the proxy cost before any work), and the end-to-end time until the
last acknowledgement SMS is recorded."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import httpx

from tests.bench.report import Report, percentile
from tests.builders import auth, complaint
from tests.e2e.conftest import System


async def _offer(
    client: httpx.AsyncClient, method: str, path: str, rate: float, seconds: float, body: bool
) -> tuple[list[float], int, float, list[str]]:
    """Start one request every 1/rate s for `seconds` (open loop: late answers do not slow
    the offered rate); returns latencies (ms), errors, wall time and ticket numbers."""
    latencies: list[float] = []
    tickets: list[str] = []
    errors = 0

    async def one() -> None:
        nonlocal errors
        t0 = time.perf_counter()
        try:
            if body:
                key = uuid.uuid4().hex
                r = await client.post(path, json=complaint(), headers={"Idempotency-Key": key})
                if r.status_code == 201:
                    tickets.append(r.json()["ticket_no"])
            else:
                r = await client.request(method, path)
            ok = r.status_code < 400
        except httpx.HTTPError:
            ok = False
        latencies.append((time.perf_counter() - t0) * 1000)
        errors += not ok

    start = time.perf_counter()
    tasks = []
    n = int(rate * seconds)
    for i in range(n):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    return latencies, errors, time.perf_counter() - start, tickets


async def run(workdir: Path, *, quick: bool) -> Report:
    rate, seconds = (20.0, 5.0) if quick else (40.0, 20.0)
    report = Report(f"load: {rate:g} req/s offered for {seconds:g} s, whole system on SQLite")
    workdir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (setup)
    system = System(workdir)
    await asyncio.to_thread(system.start)
    try:
        async with httpx.AsyncClient(
            base_url=system.gateway, headers=auth("agent"), timeout=30
        ) as c:
            base, base_err, base_wall, _ = await _offer(c, "GET", "/healthz", rate, seconds, False)
            lat, err, wall, tickets = await _offer(c, "POST", "/v1/complaints", rate, seconds, True)
            t0 = time.perf_counter()
            last = tickets[-1]
            while True:
                r = await c.get("/v1/notifications", params={"ticket_no": last})
                if r.status_code == 200 and r.json():
                    break
                await asyncio.sleep(0.1)
            settle_ms = (time.perf_counter() - t0) * 1000
    finally:
        await asyncio.to_thread(system.stop)
    report.add("achieved throughput", len(lat) / wall, "req/s", baseline=len(base) / base_wall)
    report.add(
        "latency p50",
        percentile(lat, 50),
        "ms",
        baseline=percentile(base, 50),
        higher_is_better=False,
    )
    report.add(
        "latency p99",
        percentile(lat, 99),
        "ms",
        baseline=percentile(base, 99),
        higher_is_better=False,
    )
    report.add("errors", err, "req", baseline=base_err, higher_is_better=False)
    report.add("last ack SMS recorded after last 201", settle_ms, "ms")
    return report
