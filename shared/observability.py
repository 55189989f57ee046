"""Observability: Prometheus metrics, JSON logs with masked MSISDNs, W3C trace context.

Metrics live in the default prometheus_client registry (one process serves one service).
Trace context uses opentelemetry-api's global propagator (W3C `traceparent` by default);
no SDK is needed to carry it across HTTP and Kafka, an exporter is optional.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from aiokafka import TopicPartition
from fastapi import APIRouter, Request
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter, Setter
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from sqlalchemy import func, select
from starlette.responses import Response

from shared.db import Database
from shared.phone import mask_text

log = logging.getLogger(__name__)

# --- metrics ---------------------------------------------------------------------------
HTTP_LABELS = ("method", "route", "status")
HTTP_REQUESTS = Counter("http_requests_total", "HTTP requests served", HTTP_LABELS)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency, until the response finished",
    HTTP_LABELS,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
EVENTS_PUBLISHED = Counter(
    "events_published_total", "Events the broker acknowledged", ("topic", "type")
)
EVENTS_CONSUMED = Counter(
    "events_consumed_total", "Events applied by a consumer group", ("group", "type")
)
EVENTS_DEAD_LETTERED = Counter(
    "events_dead_lettered_total", "Records sent to a dead-letter topic", ("group", "type")
)
CONSUMER_LAG = Gauge(
    "kafka_consumer_lag", "Records behind the partition's end", ("group", "topic", "partition")
)
OUTBOX_BACKLOG = Gauge("outbox_backlog", "Outbox rows not yet acknowledged", ("service",))
OUTBOX_OLDEST_AGE = Gauge(
    "outbox_oldest_age_seconds", "Age of the oldest unsent outbox row (0 if none)", ("service",)
)
HTTP_REFUSED = Counter(
    "http_refused_total", "Requests refused with 503 by admission control (overload)", ("service",)
)
PARKED_EVENTS = Gauge(
    "parked_events", "Consumed events parked until what they depend on arrives", ("service",)
)
PARKED_OLDEST_AGE = Gauge(
    "parked_event_oldest_age_seconds", "Age of the oldest parked event (0 if none)", ("service",)
)
EVENTS_PARKED = Counter("events_parked_total", "Consumed events parked (NotYet)", ("group", "type"))

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "<unmatched>"


def record_published(event_type: str, topic: str) -> None:
    """Count one event acknowledged by the broker."""
    EVENTS_PUBLISHED.labels(topic=topic, type=event_type).inc()


def record_refused(service: str) -> None:
    HTTP_REFUSED.labels(service).inc()


def record_consumed(group: str, event_type: str) -> None:
    """Count one event applied by a consumer group."""
    EVENTS_CONSUMED.labels(group=group, type=event_type).inc()


def record_dead_lettered(group: str, event_type: str | None) -> None:
    """Count one record dead-lettered (type `unknown` when it was not a CloudEvent)."""
    EVENTS_DEAD_LETTERED.labels(group=group, type=event_type or "unknown").inc()


def record_parked(group: str, event_type: str) -> None:
    """Count one event parked because what it depends on has not arrived."""
    EVENTS_PARKED.labels(group=group, type=event_type).inc()


def set_parked(service: str, count: int, oldest_age_s: float) -> None:
    """Set the parked-event gauges of one service (refreshed before each scrape)."""
    PARKED_EVENTS.labels(service=service).set(count)
    PARKED_OLDEST_AGE.labels(service=service).set(oldest_age_s)


@dataclass(frozen=True)
class OutboxStats:
    """What `collect_outbox` found."""

    backlog: int
    oldest_age_s: float


async def collect_outbox(db: Database, outbox_model: type[Any], *, service: str) -> OutboxStats:
    """Count unsent outbox rows and the age of the oldest; sets the outbox gauges."""
    unsent = outbox_model.sent_at.is_(None)
    async with db.sessions() as session:
        row = (
            await session.execute(
                select(func.count(outbox_model.id), func.min(outbox_model.created_at)).where(unsent)
            )
        ).one()
    backlog, oldest = int(row[0]), row[1]
    age = 0.0
    if oldest is not None:
        oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)
        age = max(0.0, (datetime.now(UTC) - oldest).total_seconds())
    OUTBOX_BACKLOG.labels(service=service).set(backlog)
    OUTBOX_OLDEST_AGE.labels(service=service).set(age)
    return OutboxStats(backlog, age)


class LagSource(Protocol):
    """What lag needs from an AIOKafkaConsumer."""

    def assignment(self) -> set[TopicPartition]: ...
    def highwater(self, partition: TopicPartition) -> int | None: ...
    async def position(self, partition: TopicPartition) -> int: ...


_lag_series: dict[str, set[tuple[str, str]]] = {}


async def collect_consumer_lag(consumer: LagSource, *, group: str) -> int:
    """Set the lag gauge of every assigned partition (dropping revoked ones); returns the sum."""
    seen: set[tuple[str, str]] = set()
    total = 0
    for tp in sorted(consumer.assignment(), key=lambda t: (t.topic, t.partition)):
        end = consumer.highwater(tp)
        if end is None:  # no fetch answered yet: unknown, not zero
            continue
        lag = max(0, end - await consumer.position(tp))
        CONSUMER_LAG.labels(group=group, topic=tp.topic, partition=str(tp.partition)).set(lag)
        seen.add((tp.topic, str(tp.partition)))
        total += lag
    for topic, partition in _lag_series.get(group, set()) - seen:
        CONSUMER_LAG.remove(group, topic, partition)
    _lag_series[group] = seen
    return total


class ObservabilityMiddleware:
    """ASGI middleware: adopt the caller's trace context; time and count each HTTP request
    by method, route template (not the raw path: bounded label values) and status."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with use_context(extract_http_context(_asgi_headers(scope))):
            try:
                await self.app(scope, receive, send_wrapper)
            finally:
                route = getattr(scope.get("route"), "path", None) or UNMATCHED_ROUTE
                method = scope["method"] if scope["method"] in _METHODS else "OTHER"
                labels = {"method": method, "route": route, "status": str(status)}
                HTTP_REQUESTS.labels(**labels).inc()
                HTTP_LATENCY.labels(**labels).observe(time.perf_counter() - started)


def _asgi_headers(scope: Any) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


Refresh = Callable[[Request], Awaitable[None]]


async def metrics_endpoint(request: Request, refresh: Refresh | None = None) -> Response:
    """The Prometheus exposition; `refresh` updates DB-derived gauges first (bounded, and a
    failure only leaves them stale: scraping must work while the database is down)."""
    if refresh is not None:
        try:
            await asyncio.wait_for(refresh(request), 5)
        except Exception as exc:
            log.warning("metrics refresh failed: %s", exc)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def metrics_router(refresh: Refresh | None = None) -> APIRouter:
    """GET /metrics (left out of the OpenAPI document)."""
    router = APIRouter()

    @router.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        return await metrics_endpoint(request, refresh)

    return router


# --- structured logs -------------------------------------------------------------------
_ticket_no: ContextVar[str | None] = ContextVar("ticket_no", default=None)
_event_id: ContextVar[str | None] = ContextVar("event_id", default=None)
_SKIPPED_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's ANSI-coloured duplicate of the message
}


def mask_msisdns(text: str) -> str:
    """Log lines go through the one shared masker (numbers in any form, ID numbers, names)."""
    return mask_text(text)


@contextmanager
def log_context(*, ticket_no: str | None = None, event_id: str | None = None) -> Iterator[None]:
    """Tag every log line inside the block with a ticket number and/or an event id."""
    tokens = [
        (var, var.set(value))
        for var, value in ((_ticket_no, ticket_no), (_event_id, event_id))
        if value is not None
    ]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, service, ticket_no, event_id,
    trace_id/span_id when present, extras; phone numbers masked everywhere."""

    def __init__(self, service: str | None = None) -> None:
        super().__init__()
        self.service = service or os.environ.get("OTEL_SERVICE_NAME", "complaints")

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": mask_msisdns(record.getMessage()),
            "service": self.service,
        }
        for key, var in (("ticket_no", _ticket_no), ("event_id", _event_id)):
            value = getattr(record, key, None) or var.get()
            if value:
                out[key] = value
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            out["trace_id"] = f"{span.trace_id:032x}"
            out["span_id"] = f"{span.span_id:016x}"
        for key, value in record.__dict__.items():
            if key not in _SKIPPED_ATTRS and key not in out:
                out[key] = mask_msisdns(value) if isinstance(value, str) else value
        if record.exc_info:
            out["exception"] = mask_msisdns(self.formatException(record.exc_info))
        return json.dumps(out, ensure_ascii=False, default=lambda v: mask_msisdns(str(v)))


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send every logger's records to stdout as JSON lines (replaces root handlers)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


# --- trace context ---------------------------------------------------------------------
KafkaHeaders = list[tuple[str, bytes]]


class _KafkaGetter(Getter[KafkaHeaders]):
    def get(self, carrier: KafkaHeaders, key: str) -> list[str] | None:
        values = [v.decode("latin-1") for k, v in carrier if k.lower() == key.lower()]
        return values or None

    def keys(self, carrier: KafkaHeaders) -> list[str]:
        return [k for k, _ in carrier]


class _KafkaSetter(Setter[KafkaHeaders]):
    def set(self, carrier: KafkaHeaders, key: str, value: str) -> None:
        carrier[:] = [(k, v) for k, v in carrier if k.lower() != key.lower()]
        carrier.append((key, value.encode("latin-1")))


def inject_kafka_headers(headers: KafkaHeaders, context: Context | None = None) -> KafkaHeaders:
    """Add `traceparent` (and `tracestate`, baggage) of the context to record headers."""
    propagate.inject(headers, context=context, setter=_KafkaSetter())
    return headers


def extract_kafka_context(headers: KafkaHeaders | None) -> Context:
    """The trace context a producer left in a record's headers (empty if none)."""
    return propagate.extract(list(headers or ()), getter=_KafkaGetter())


def inject_http_headers(
    headers: MutableMapping[str, str], context: Context | None = None
) -> MutableMapping[str, str]:
    """Add the trace context to outgoing HTTP headers."""
    propagate.inject(headers, context=context)
    return headers


def extract_http_context(headers: Mapping[str, str]) -> Context:
    """The caller's trace context from HTTP headers (lower-case keys or a Headers object)."""
    return propagate.extract(headers)


def trace_headers(context: Context | None = None) -> tuple[tuple[str, str], ...]:
    """The current trace context as `Envelope.extra_headers`, so the outbox carries it."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=context)
    return tuple(carrier.items())


@contextmanager
def use_context(context: Context) -> Iterator[None]:
    """Make a context (e.g. extracted from a record) current for the block."""
    token = otel_context.attach(context)
    try:
        yield
    finally:
        otel_context.detach(token)
