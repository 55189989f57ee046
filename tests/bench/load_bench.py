"""A load run against the whole system (runner: broker, five services, gateway) at fixed
offered rates for a bounded time: achieved throughput and latency percentiles for complaint
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
    """Two offered rates on one system: one it sustains (the latency a caller sees in normal
    service) and one above what two cores carry (how it degrades: queueing, no errors)."""
    rates, seconds = ((10.0, 20.0), 5.0) if quick else ((15.0, 40.0), 20.0)
    report = Report(
        f"load: {' and '.join(f'{r:g}' for r in rates)} req/s offered for {seconds:g} s each,"
        " whole system on SQLite"
    )
    workdir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (setup)
    system = System(workdir)
    await asyncio.to_thread(system.start)
    try:
        async with httpx.AsyncClient(
            base_url=system.gateway, headers=auth("agent"), timeout=60
        ) as c:
            for rate in rates:
                base, base_err, base_wall, _ = await _offer(
                    c, "GET", "/healthz", rate, seconds, False
                )
                lat, err, wall, tickets = await _offer(
                    c, "POST", "/v1/complaints", rate, seconds, True
                )
                settle_ms = await _until_acknowledged(c, tickets[-1])
                at = f"@{rate:g}/s"
                report.add(
                    f"{at} achieved throughput",
                    len(lat) / wall,
                    "req/s",
                    baseline=len(base) / base_wall,
                )
                for q in (50, 99):
                    report.add(
                        f"{at} latency p{q}",
                        percentile(lat, q),
                        "ms",
                        baseline=percentile(base, q),
                        higher_is_better=False,
                    )
                report.add(f"{at} errors", err, "req", baseline=base_err, higher_is_better=False)
                report.add(f"{at} last ack SMS recorded after last 201", settle_ms, "ms")
    finally:
        await asyncio.to_thread(system.stop)
    return report


async def _until_acknowledged(c: httpx.AsyncClient, ticket_no: str) -> float:
    t0 = time.perf_counter()
    while True:
        r = await c.get("/v1/notifications", params={"ticket_no": ticket_no})
        if r.status_code == 200 and r.json():
            return (time.perf_counter() - t0) * 1000
        await asyncio.sleep(0.1)
