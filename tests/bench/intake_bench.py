"""Intake registration: the full write path next to a bare FastAPI + SQLAlchemy INSERT.

Both apps run in this process over the same ASGI transport, on SQLite files in the same
folder, with the same concurrency; the ratio is what our validation, classification,
idempotency, timeline and outbox cost on top of the cheapest possible insert.
The relay's drain time (last POST → last event acknowledged by the broker) is reported too.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import String, func, select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from services.intake.app import create_app
from services.intake.settings import IntakeSettings
from shared.broker import Broker
from shared.db import UTCDateTime
from tests.bench.report import Report, summary, target
from tests.builders import auth

DESCRIPTIONS = [
    "家里信号很差，经常掉线",
    "这个月话费多扣了三十块，我没订过这个业务",
    "宽带从昨天开始就连不上，报修了没人来",
    "营业厅工作人员态度很差，办理携号转网一直推脱",
    "流量套餐明明还有剩余却提示超出，被收了费",
]


class _Base(DeclarativeBase):
    pass


class _Row(_Base):
    __tablename__ = "bare_complaints"
    id: Mapped[int] = mapped_column(primary_key=True)
    msisdn: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(String(4000))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


def _bare_app(url: str) -> FastAPI:
    # the same 30 s busy timeout as the services' engines (a loaded machine waits longer)
    engine = create_async_engine(url, connect_args={"timeout": 30})
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    app = FastAPI()

    @app.post("/v1/complaints", status_code=201)
    async def create(body: dict[str, str]) -> dict[str, int]:
        async with sessions.begin() as s:
            row = _Row(
                msisdn=body["msisdn"],
                description=body["description"],
                received_at=datetime.now(UTC),
            )
            s.add(row)
            await s.flush()
            return {"id": row.id}

    app.state.engine = engine
    app.state.create_all = lambda: _create_all(engine)
    return app


async def _create_all(engine: object) -> None:
    async with engine.begin() as conn:  # type: ignore[attr-defined]
        await conn.run_sync(_Base.metadata.create_all)


async def _drive(app: FastAPI, n: int, concurrency: int, headers: dict[str, str]) -> list[float]:
    """POST n complaints with `concurrency` in flight; returns per-request latency (ms)."""
    transport = httpx.ASGITransport(app=app)
    latencies: list[float] = []
    counter = iter(range(n))
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

        async def worker() -> None:
            for i in counter:
                body = {
                    "channel": "hotline",
                    "msisdn": f"138{i % 100_000_000:08d}",
                    "description": DESCRIPTIONS[i % len(DESCRIPTIONS)],
                }
                t0 = time.perf_counter()
                r = await client.post("/v1/complaints", json=body, headers=headers)
                latencies.append((time.perf_counter() - t0) * 1000)
                if r.status_code != 201:
                    raise RuntimeError(f"unexpected {r.status_code}: {r.text[:200]}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


BARE: dict[str, float] = {}
"""The bare endpoint's throughput once measured in this run (the load section reuses it)."""


async def _bare(workdir: Path, n: int, concurrency: int) -> tuple[list[float], float, float]:
    """(latencies, wall seconds, CPU seconds) of the bare single-INSERT endpoint."""
    workdir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (setup)
    bare = _bare_app(f"sqlite+aiosqlite:///{workdir / 'bare.db'}")
    await bare.state.create_all()
    await _drive(bare, 50, concurrency, {})  # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    base_lat = await _drive(bare, n, concurrency, {})
    base_s, base_cpu = time.perf_counter() - t0, time.process_time() - c0
    await bare.state.engine.dispose()
    BARE["rate"] = n / base_s
    return base_lat, base_s, base_cpu


async def bare_rate(workdir: Path, n: int) -> float:
    """The bare endpoint's throughput at 8 in flight, measured once per run."""
    if "rate" not in BARE:
        await _bare(workdir, n, 8)
    return BARE["rate"]


async def run(workdir: Path, broker: Broker, *, n: int, concurrency: int = 8) -> Report:
    report = Report(f"intake: POST /v1/complaints x{n}, {concurrency} in flight, SQLite")
    headers = auth("agent")  # the tests' agent token (its department sees what it creates)
    base_lat, base_s, base_cpu = await _bare(workdir, n, concurrency)

    settings = IntakeSettings(
        database_url=f"sqlite+aiosqlite:///{workdir / 'intake.db'}",
        kafka_bootstrap_servers=broker.bootstrap,
        relay_idle_interval_s=0.05,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await _drive(app, 50, concurrency, headers)
        t0, c0 = time.perf_counter(), time.process_time()
        lat = await _drive(app, n, concurrency, headers)
        ours_s, ours_cpu = time.perf_counter() - t0, time.process_time() - c0
        runtime = app.state.runtime
        outbox = runtime.platform.models.outbox
        t1 = time.perf_counter()
        while True:
            async with runtime.db.sessions() as s:
                backlog = await s.scalar(
                    select(func.count()).select_from(outbox).where(outbox.sent_at.is_(None))
                )
            if not backlog:
                break
            await asyncio.sleep(0.05)
        drain_s = time.perf_counter() - t1

    mean, p50, p99 = summary(lat)
    bmean, bp50, bp99 = summary(base_lat)
    report.add("throughput", n / ours_s, "req/s", baseline=n / base_s)
    report.add("latency mean", mean, "ms", baseline=bmean, higher_is_better=False)
    report.add("latency p50", p50, "ms", baseline=bp50, higher_is_better=False)
    report.add("latency p99", p99, "ms", baseline=bp99, higher_is_better=False)
    report.add("outbox drain after last POST", drain_s * 1000, "ms")
    # process CPU (server and the in-process client alike) per registered complaint
    cpu_ms, base_cpu_ms = ours_cpu * 1000 / n, base_cpu * 1000 / n
    report.add("CPU per complaint", cpu_ms, "ms", baseline=base_cpu_ms, higher_is_better=False)
    target(
        "intake throughput vs bare single INSERT",
        n / ours_s,
        "req/s",
        bound=3 * n / base_s,
        baseline=n / base_s,
    )
    target("intake p99 at 8 in flight", p99, "ms", bound=50, at_most=True, baseline=bp99)
    target("intake CPU per complaint (process)", cpu_ms, "ms", baseline=base_cpu_ms, at_most=True)
    return report
