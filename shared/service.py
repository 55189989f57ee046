"""What every service shares at run time: its DB, bus, relay, consumers, health, docs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from sqlalchemy.orm import DeclarativeBase

from shared.admission import Admission
from shared.auth import TokenVerifier
from shared.consumer import ConsumerRunner, Handler
from shared.db import Database
from shared.epoch import BrokerEpoch
from shared.errors import PROBLEM_JSON, Problem, install_problem_handlers, problem_response
from shared.events import Event
from shared.idempotency import IdempotentCreate
from shared.kafka import make_producer
from shared.migrations import upgrade_async
from shared.nul_guard import NulGuard
from shared.observability import (
    ObservabilityMiddleware,
    collect_consumer_lag,
    collect_outbox,
    metrics_router,
)
from shared.outbox import Outbox, OutboxRelay, PlatformModels, platform_models
from shared.parking import refresh_gauges as refresh_parked_gauges
from shared.retention import Retained, prune_every
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)


@dataclass
class Platform:
    """Per-service plumbing, created once at import and started by the lifespan."""

    name: str
    base: type[DeclarativeBase]
    models: PlatformModels = field(init=False)

    def __post_init__(self) -> None:
        self.models = platform_models(self.base)


@dataclass
class Runtime:
    """The running pieces of one service instance (app.state.runtime)."""

    settings: ServiceSettings
    platform: Platform
    db: Database
    producer: AIOKafkaProducer
    outbox: Outbox
    idempotent: IdempotentCreate
    relay: OutboxRelay | None = None
    consumers: list[ConsumerRunner] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    producer_started: bool = False

    def run_supervised(self, what: str, factory: Callable[[], Awaitable[None]]) -> None:
        """Run a long-lived loop of this service, restarted if it fails, cancelled (and
        named in the log if it does not stop in time) when the service stops."""
        name = f"{self.platform.name} {what}"
        self.tasks.append(asyncio.create_task(supervise(name, factory), name=name))


async def supervise(name: str, factory: Callable[[], Awaitable[None]]) -> None:
    """Run a long-lived loop; restart it with backoff if it fails."""
    delay = 0.5
    while True:
        try:
            await factory()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s crashed; restarting in %.1fs", name, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 15.0)


class BodySizeLimit:
    """ASGI middleware: refuse bodies over the limit with 413 problem+json, before parsing."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._reject(scope, receive, send)
        received = 0

        async def limited_receive() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._reject(scope, receive, send)

    async def _reject(self, scope: Any, receive: Any, send: Any) -> None:
        problem = Problem(
            413,
            "Payload Too Large",
            f"request body exceeds {self.max_bytes} bytes",
            errors=[{"field": "body", "message": "too large"}],
        )
        response = JSONResponse(
            problem.body(scope.get("path")), status_code=413, media_type=PROBLEM_JSON
        )
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


def create_service_app(
    *,
    platform: Platform,
    settings: ServiceSettings,
    title: str,
    description: str,
    routers: list[APIRouter],
    handlers: Mapping[type[Event], Handler] | None = None,
    migrate_on_start: bool = True,
    on_start: Callable[[Runtime], Awaitable[None]] | None = None,
    gauges: Callable[[Runtime], Awaitable[None]] | None = None,
    retained: Sequence[Retained] | None = None,
) -> FastAPI:
    """Build a service app: problem+json errors, health, docs under /<name>/, and a lifespan
    that migrates (embedded), starts the producer, the outbox relay and the consumers.
    `gauges` refreshes the service's own DB-derived metrics before each /metrics scrape;
    `retained` names the service's own log tables the retention job prunes."""
    name = platform.name

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = settings.resolved_database_url
        if migrate_on_start:
            await upgrade_async(name, url, settings.db_schema)
        db = Database(url, schema=settings.db_schema)
        producer = make_producer(
            settings.kafka_bootstrap_servers,
            client_id=name,
            idempotent=settings.kafka_enable_idempotence,
        )
        rt = Runtime(
            settings=settings,
            platform=platform,
            db=db,
            producer=producer,
            outbox=Outbox(platform.models.outbox, source=f"/complaints/{name}"),
            idempotent=IdempotentCreate(db, platform.models.idempotency),
        )
        db.outbox = rt.outbox
        app.state.runtime = rt
        app.state.token_verifier = TokenVerifier(settings)
        await start_runtime(rt, handlers or {}, retained)
        if on_start is not None:
            await on_start(rt)
        try:
            yield
        finally:
            await stop_runtime(rt)

    app = FastAPI(
        title=title,
        description=description,
        version="1.0.0",
        lifespan=lifespan,
        docs_url=f"/{name}/docs",
        redoc_url=None,
        openapi_url=f"/{name}/openapi.json",
    )
    install_problem_handlers(app)
    app.add_middleware(NulGuard)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        Admission,
        max_in_flight=settings.max_in_flight,
        max_queued=settings.max_queued,
        queue_budget_s=settings.queue_budget_ms / 1000,
        service=name,
    )
    app.add_middleware(ObservabilityMiddleware)
    app.include_router(health_router())

    async def refresh_gauges(request: Request) -> None:
        rt: Runtime | None = getattr(request.app.state, "runtime", None)
        if rt is None:
            return
        await _refresh_platform_gauges(rt)
        if gauges is not None:
            await gauges(rt)

    app.include_router(metrics_router(refresh_gauges))
    for router in routers:
        app.include_router(router)
    _problem_schema_in_openapi(app)
    return app


async def start_runtime(
    rt: Runtime,
    handlers: Mapping[type[Event], Handler],
    retained: Sequence[Retained] | None = None,
) -> None:
    s = rt.settings
    await start_producer(rt)
    if s.relay_enabled:
        rt.relay = OutboxRelay(
            rt.db,
            rt.platform.models.outbox,
            rt.producer,
            batch_size=s.relay_batch_size,
            idle_interval_s=s.relay_idle_interval_s,
            epoch=BrokerEpoch(s.kafka_bootstrap_servers, rt.producer)
            if s.kafka_broker_epoch
            else None,
            epoch_check_interval_s=s.relay_epoch_check_interval_s,
            retention=timedelta(days=s.outbox_retention_days),
        )
        rt.run_supervised("relay", rt.relay.run)
    rt.run_supervised("retention", lambda: prune_every(rt, retained or ()))
    if s.consumers_enabled and handlers:
        runner = ConsumerRunner(
            db=rt.db,
            inbox_model=rt.platform.models.inbox,
            group=rt.platform.name,
            bootstrap=s.kafka_bootstrap_servers,
            handlers=handlers,
            dlq_producer=rt.producer,
            max_attempts=s.consumer_max_attempts,
            retry_backoff_s=s.consumer_retry_backoff_s,
            session_timeout_ms=s.consumer_session_timeout_ms,
            heartbeat_interval_ms=s.consumer_heartbeat_interval_ms,
            fetch_max_wait_ms=s.consumer_fetch_max_wait_ms,
            parked_model=rt.platform.models.parked,
            parked_ttl_s=s.consumer_parked_ttl_s,
            parked_sweep_interval_s=s.consumer_parked_sweep_interval_s,
        )
        rt.consumers.append(runner)
        rt.run_supervised("consumer", runner.run)


async def start_producer(rt: Runtime) -> None:
    """Start the producer, retrying while the broker is unreachable (the outbox holds events)."""
    for attempt in range(60):
        try:
            await rt.producer.start()
            rt.producer_started = True
            return
        except Exception as exc:
            log.warning("%s: broker not reachable yet (%s); retrying", rt.platform.name, exc)
            await rt.producer.stop()
            rt.producer = make_producer(
                rt.settings.kafka_bootstrap_servers,
                client_id=rt.platform.name,
                idempotent=rt.settings.kafka_enable_idempotence,
            )
            await asyncio.sleep(min(0.5 * (attempt + 1), 5))
    raise RuntimeError("Kafka broker unreachable")


async def stop_runtime(rt: Runtime) -> None:
    """Stop in order: consumers and timers first, then one last bounded drain of the outbox
    (what they staged while stopping), then the relay, the producer and the database."""
    relay_task = next((t for t in rt.tasks if t.get_name().endswith(" relay")), None)
    others = [t for t in rt.tasks if t is not relay_task]
    await _cancel(rt, others)
    if relay_task is not None:
        await _cancel(rt, [relay_task])
    if rt.relay is not None:
        try:
            await asyncio.wait_for(rt.relay.drain(), rt.settings.stop_drain_timeout_s)
        except Exception as exc:
            log.warning(
                "%s: outbox not drained on stop (%r); the rest is sent on the next start",
                rt.platform.name,
                exc,
            )
        if rt.relay.epoch is not None:
            await rt.relay.epoch.close()
    # Bounded: an orchestrator kills a pod that does not stop within its grace period.
    if rt.producer_started:
        try:
            await asyncio.wait_for(rt.producer.stop(), 10)
        except Exception as exc:
            log.warning("%s: producer did not stop cleanly: %r", rt.platform.name, exc)
    try:
        await asyncio.wait_for(rt.db.dispose(), 10)
    except Exception as exc:
        log.warning("%s: database pool did not close cleanly: %r", rt.platform.name, exc)


async def _cancel(rt: Runtime, tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    _, stuck = await asyncio.wait(tasks, timeout=15)
    for task in stuck:
        log.warning("%s: %s did not stop in time", rt.platform.name, task.get_name())
    for task in set(tasks) - stuck:
        with suppress(asyncio.CancelledError, Exception):
            task.result()


async def _refresh_platform_gauges(rt: Runtime) -> None:
    """Before a scrape: outbox backlog/age and the lag of this instance's consumers."""
    await collect_outbox(rt.db, rt.platform.models.outbox, service=rt.platform.name)
    await refresh_parked_gauges(rt.db, rt.platform.models.parked, service=rt.platform.name)
    for runner in rt.consumers:
        if runner.consumer is not None:
            await collect_consumer_lag(runner.consumer, group=runner.group)


def runtime(request: Request) -> Runtime:
    """The service runtime, as a FastAPI dependency."""
    rt: Runtime = request.app.state.runtime
    return rt


def health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="Liveness: the process is serving")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/readyz",
        summary="Readiness: the database and the broker answer",
        responses={503: {"description": "Not ready"}},
    )
    async def readyz(request: Request) -> JSONResponse:
        rt = runtime(request)
        checks: dict[str, str] = {}
        try:
            await asyncio.wait_for(rt.db.ping(), 3)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"error: {type(exc).__name__}"
        try:
            await asyncio.wait_for(rt.producer.client.fetch_all_metadata(), 3)
            checks["broker"] = "ok"
        except Exception as exc:
            checks["broker"] = f"error: {type(exc).__name__}"
        for consumer in rt.consumers:
            checks[f"consumer:{consumer.group}"] = (
                "ok" if consumer.joined.is_set() else "joining group"
            )
        ready = all(v == "ok" for v in checks.values())
        if not ready:
            return problem_response(Problem(503, "Service Unavailable", "not ready", checks=checks))
        return JSONResponse({"status": "ready", "checks": checks})

    return router


def _problem_schema_in_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {})
        components.setdefault("schemas", {})["Problem"] = {
            "type": "object",
            "description": "RFC 9457 problem details; `errors` names the offending fields.",
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "instance": {"type": "string"},
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                    },
                },
            },
            "required": ["title", "status"],
        }
        components["schemas"]["Error"] = {
            "type": "object",
            "description": "TMF630 Error, returned by the TMF Open API routes (/tmf-api/...); "
            "`errors` (an extension) names the offending fields.",
            "properties": {
                "code": {"type": "string"},
                "reason": {"type": "string"},
                "message": {"type": "string"},
                "status": {"type": "string"},
                "referenceError": {"type": "string"},
                "@type": {"type": "string"},
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                    },
                },
            },
            "required": ["code", "reason"],
        }
        components.setdefault("securitySchemes", {})
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
