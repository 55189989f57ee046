"""Metrics, JSON logs and trace context: what an operator scrapes, reads and follows."""

from __future__ import annotations

import json
import logging
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import TopicPartition
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from prometheus_client import REGISTRY
from sqlalchemy.orm import DeclarativeBase

from services.notify.metrics import record_notification
from services.refund.metrics import set_refunds_pending
from services.sla.metrics import set_sla_clocks
from shared import observability as obs
from shared.db import TYPE_ANNOTATION_MAP, Database, service_metadata, utcnow
from shared.outbox import platform_models

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
SPAN_ID = 0x00F067AA0BA902B7
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def span_context() -> Any:
    sc = SpanContext(TRACE_ID, SPAN_ID, is_remote=False, trace_flags=TraceFlags(1))
    return trace.set_span_in_context(NonRecordingSpan(sc))


def tiny_app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(obs.ObservabilityMiddleware)
    app.include_router(obs.metrics_router())
    seen: dict[str, str] = {}

    @app.get("/v1/things/{thing_id}")
    async def get_thing(thing_id: str) -> dict[str, str]:
        ctx = trace.get_current_span().get_span_context()
        seen["trace_id"] = f"{ctx.trace_id:032x}"
        return {"id": thing_id}

    @app.get("/v1/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    app.state.seen = seen
    return app


async def test_http_requests_are_counted_by_route_template_and_status() -> None:
    app = tiny_app()
    labels = {"method": "GET", "route": "/v1/things/{thing_id}", "status": "200"}
    before = sample("http_requests_total", **labels)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for thing in ("a", "b", "c"):
            assert (await client.get(f"/v1/things/{thing}")).status_code == 200
        assert (await client.get("/v1/boom")).status_code == 500
        assert (await client.get("/nowhere")).status_code == 404
        scrape = await client.get("/metrics")
    assert scrape.status_code == 200
    assert scrape.headers["content-type"].startswith("text/plain")
    assert sample("http_requests_total", **labels) == before + 3
    assert sample("http_request_duration_seconds_count", **labels) >= 3
    assert 'route="/v1/things/{thing_id}"' in scrape.text
    assert 'route="/v1/boom",status="500"' in scrape.text
    assert f'route="{obs.UNMATCHED_ROUTE}",status="404"' in scrape.text
    assert "/v1/things/a" not in scrape.text  # raw paths would explode the series count


async def test_incoming_traceparent_becomes_the_request_context() -> None:
    app = tiny_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        await c.get("/v1/things/x", headers={"traceparent": TRACEPARENT})
    assert app.state.seen["trace_id"] == f"{TRACE_ID:032x}"


async def test_metrics_refresh_failure_still_serves_the_scrape() -> None:
    async def broken(_: Any) -> None:
        raise ConnectionError("database down")

    app = FastAPI()
    app.include_router(obs.metrics_router(broken))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        response = await c.get("/metrics")
    assert response.status_code == 200
    assert "http_requests_total" in response.text


def test_event_and_business_helpers_set_their_series() -> None:
    published = sample("events_published_total", topic="complaints.ticket.v1", type="X1")
    obs.record_published("X1", "complaints.ticket.v1")
    obs.record_consumed("routing", "X1")
    obs.record_dead_lettered("routing", None)
    record_notification("sms", "failed")
    set_sla_clocks(running=7, breached=2)
    set_refunds_pending(4)
    assert sample("events_published_total", topic="complaints.ticket.v1", type="X1") == (
        published + 1
    )
    assert sample("events_consumed_total", group="routing", type="X1") >= 1
    assert sample("events_dead_lettered_total", group="routing", type="unknown") >= 1
    assert sample("notifications_total", channel="sms", outcome="failed") >= 1
    assert sample("sla_clocks", state="running") == 7
    assert sample("sla_clocks", state="breached") == 2
    assert sample("refunds_pending") == 4


async def test_outbox_backlog_and_oldest_age(tmp_path: Path) -> None:
    class Base(DeclarativeBase):
        metadata = service_metadata()
        type_annotation_map = TYPE_ANNOTATION_MAP

    outbox = platform_models(Base).outbox
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'obs.db'}")
    async with db.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    now = utcnow()
    rows = [("e1", now - timedelta(minutes=5), None), ("e2", now, None), ("e3", now, now)]
    async with db.sessions() as session:
        for event_id, created, sent in rows:
            session.add(
                outbox(
                    event_id=event_id,
                    topic="t",
                    key="k",
                    event_type="T",
                    value="{}",
                    headers="[]",
                    created_at=created,
                    sent_at=sent,
                )
            )
        await session.commit()
    stats = await obs.collect_outbox(db, outbox, service="obs-test")
    await db.dispose()
    assert stats.backlog == 2
    assert 290 < stats.oldest_age_s < 600
    assert sample("outbox_backlog", service="obs-test") == 2
    assert sample("outbox_oldest_age_seconds", service="obs-test") == stats.oldest_age_s


class FakeConsumer:
    def __init__(self, ends: dict[TopicPartition, int], positions: dict[TopicPartition, int]):
        self.ends, self.positions = ends, positions

    def assignment(self) -> set[TopicPartition]:
        return set(self.positions)

    def highwater(self, partition: TopicPartition) -> int | None:
        return self.ends.get(partition)

    async def position(self, partition: TopicPartition) -> int:
        return self.positions[partition]


async def test_consumer_lag_per_partition_and_revoked_partitions_disappear() -> None:
    p0, p1, p2 = (TopicPartition("complaints.ticket.v1", p) for p in range(3))
    consumer = FakeConsumer({p0: 10, p1: 5}, {p0: 4, p1: 5, p2: 0})
    assert await obs.collect_consumer_lag(consumer, group="lag-test") == 6
    labels = {"group": "lag-test", "topic": "complaints.ticket.v1"}
    assert sample("kafka_consumer_lag", partition="0", **labels) == 6
    assert sample("kafka_consumer_lag", partition="1", **labels) == 0
    assert REGISTRY.get_sample_value("kafka_consumer_lag", {"partition": "2", **labels}) is None
    await obs.collect_consumer_lag(FakeConsumer({p1: 9}, {p1: 1}), group="lag-test")
    assert REGISTRY.get_sample_value("kafka_consumer_lag", {"partition": "0", **labels}) is None
    assert sample("kafka_consumer_lag", partition="1", **labels) == 8


def log_line(logger: str, message: str, *args: Any, **kw: Any) -> dict[str, Any]:
    record = logging.getLogger(logger).makeRecord(
        logger, logging.INFO, "f.py", 1, message, args, None, extra=kw or None
    )
    parsed: dict[str, Any] = json.loads(obs.JsonFormatter("intake").format(record))
    return parsed


@pytest.mark.parametrize(
    "raw",
    ["13800138000", "+8613800138000", "+86 138 0013 8000", "008613800138000", "8613800138000"],
)
def test_json_log_masks_mobile_numbers(raw: str) -> None:
    line = log_line("intake.api", "sms to %s queued", raw)
    assert line["message"] == "sms to 138****8000 queued"


def test_json_log_leaves_ticket_numbers_and_other_digits_alone() -> None:
    line = log_line("x", "ticket TS2611220482913 amount 12345678901234 code 10086")
    assert line["message"] == "ticket TS2611220482913 amount 12345678901234 code 10086"


def test_json_log_carries_service_ticket_event_and_trace() -> None:
    with (
        obs.log_context(ticket_no="TS2611220482913", event_id="e-1"),
        obs.use_context(span_context()),
    ):
        line = log_line("routing.consumer", "assigned", customer="13912345678")
    assert line["service"] == "intake"
    assert line["level"] == "INFO"
    assert line["logger"] == "routing.consumer"
    assert line["time"].endswith("+00:00")
    assert line["ticket_no"] == "TS2611220482913"
    assert line["event_id"] == "e-1"
    assert line["trace_id"] == f"{TRACE_ID:032x}"
    assert line["customer"] == "139****5678"
    outside = log_line("routing.consumer", "idle")
    assert "ticket_no" not in outside and "trace_id" not in outside


def test_json_log_masks_numbers_in_tracebacks() -> None:
    try:
        raise ValueError("bad number 13800138000")
    except ValueError:
        record = logging.getLogger("x").makeRecord(
            "x", logging.ERROR, "f.py", 1, "failed", (), sys.exc_info()
        )
    line = json.loads(obs.JsonFormatter("sla").format(record))
    assert "138****8000" in line["exception"] and "13800138000" not in line["exception"]


def test_traceparent_round_trips_through_kafka_headers() -> None:
    headers = obs.inject_kafka_headers([("ce_id", b"e-1")], span_context())
    assert ("traceparent", TRACEPARENT.encode()) in headers
    assert headers[0] == ("ce_id", b"e-1")
    restored = trace.get_current_span(obs.extract_kafka_context(headers)).get_span_context()
    assert (restored.trace_id, restored.span_id, restored.is_remote) == (TRACE_ID, SPAN_ID, True)


def test_injecting_twice_keeps_one_traceparent() -> None:
    headers = obs.inject_kafka_headers([], span_context())
    obs.inject_kafka_headers(headers, span_context())
    assert [k for k, _ in headers].count("traceparent") == 1


def test_traceparent_round_trips_through_http_headers_and_the_outbox() -> None:
    headers = obs.inject_http_headers({}, span_context())
    assert headers["traceparent"] == TRACEPARENT
    ctx = obs.extract_http_context(headers)
    assert trace.get_current_span(ctx).get_span_context().trace_id == TRACE_ID
    with obs.use_context(ctx):
        assert dict(obs.trace_headers())["traceparent"] == TRACEPARENT


def test_no_trace_context_means_no_headers() -> None:
    assert obs.inject_kafka_headers([]) == []
    assert not trace.get_current_span(obs.extract_kafka_context(None)).get_span_context().is_valid
