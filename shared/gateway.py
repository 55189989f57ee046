"""The single entry URL: routes /v1/... and /tmf-api/... to the owning service by prefix."""

from __future__ import annotations

import asyncio
import html
import itertools
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from shared.admission import Admission
from shared.asyncapi import ASYNCAPI_PATH, asyncapi_endpoint
from shared.errors import PROBLEM_JSON, Problem
from shared.observability import ObservabilityMiddleware, metrics_endpoint
from shared.service import BodySizeLimit
from shared.topology import SERVICES, owner_of

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}


def upstreams() -> dict[str, list[str]]:
    """Service base URLs: GATEWAY_UPSTREAM_<NAME> (comma-separated for several replicas) or
    127.0.0.1 on the service's port."""
    return {
        s.name: [
            url.strip()
            for url in os.environ.get(
                f"GATEWAY_UPSTREAM_{s.name.upper()}", f"http://127.0.0.1:{s.port}"
            ).split(",")
            if url.strip()
        ]
        for s in SERVICES
    }


class Upstream:
    """The replicas of one service, taken in turn; a replica that refuses the connection is
    skipped for this request (nothing reached it, so trying the next one is safe)."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self._next = itertools.count()

    def order(self) -> list[str]:
        start = next(self._next) % len(self.urls)
        return self.urls[start:] + self.urls[:start]


def _problem(status: int, title: str, detail: str) -> JSONResponse:
    return JSONResponse(
        Problem(status, title, detail).body(), status_code=status, media_type=PROBLEM_JSON
    )


def create_gateway(targets: dict[str, list[str]] | None = None) -> Starlette:
    targets = targets or upstreams()
    pools = {name: Upstream(urls) for name, urls in targets.items()}
    client: dict[str, httpx.AsyncClient] = {}

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        client["c"] = httpx.AsyncClient(timeout=30.0, limits=httpx.Limits(max_connections=200))
        try:
            yield
        finally:
            await client["c"].aclose()

    async def proxy(request: Request) -> Response:
        spec = owner_of(request.url.path)
        if spec is None:
            return _problem(404, "Not Found", f"no service owns {request.url.path}")
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP]
        headers.append(("x-forwarded-for", request.client.host if request.client else ""))
        headers.append(("x-forwarded-prefix", ""))
        # forward the path exactly as the client sent it (still percent-encoded)
        target = (request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1")
        if request.url.query:
            target += "?" + request.url.query
        body = await request.body()
        upstream: httpx.Response | None = None
        error: Exception | None = None
        for base in pools[spec.name].order():
            try:
                upstream = await client["c"].request(
                    request.method, base + target, headers=headers, content=body
                )
                break
            except httpx.InvalidURL:
                return _problem(400, "Bad Request", "the request target is not a valid URL")
            except httpx.ConnectError as exc:
                error = exc  # refused before anything was sent: the next replica may answer
            except httpx.TransportError as exc:
                error = exc
                break
        if upstream is None:
            name = type(error).__name__
            return _problem(502, "Bad Gateway", f"{spec.name} unreachable: {name}")
        out_headers = {
            k: v
            for k, v in upstream.headers.items()
            if k.lower() not in HOP_BY_HOP and k.lower() != "content-encoding"
        }
        return Response(upstream.content, status_code=upstream.status_code, headers=out_headers)

    async def docs_index(_: Request) -> HTMLResponse:
        items = "".join(
            f'<li><a href="/{s.name}/docs">{html.escape(s.name)}</a> — '
            f'<a href="/{s.name}/openapi.json">openapi.json</a></li>'
            for s in SERVICES
        )
        return HTMLResponse(
            "<!doctype html><html lang=en><head><meta charset=utf-8>"
            "<title>10086 complaints API</title></head><body>"
            f"<h1>10086 complaint handling: API documentation</h1><ul>{items}</ul>"
            f'<h2>Events</h2><ul><li><a href="{ASYNCAPI_PATH}">AsyncAPI 3.0 event catalogue</a>'
            "</li></ul></body></html>"
        )

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> JSONResponse:
        async def check(name: str, url: str) -> tuple[str, str, str]:
            try:
                r = await client["c"].get(url + "/readyz", timeout=5)
                return name, url, "ok" if r.status_code == 200 else f"status {r.status_code}"
            except httpx.TransportError as exc:
                return name, url, f"error: {type(exc).__name__}"

        results = await asyncio.gather(
            *(check(name, url) for name, urls in targets.items() for url in urls)
        )
        checks = {
            name if len(targets[name]) == 1 else f"{name} {url}": state
            for name, url, state in results
        }
        # Ready when every service has at least one ready replica.
        if all(any(n == name and st == "ok" for n, _, st in results) for name in targets):
            return JSONResponse({"status": "ready", "checks": checks})
        body = Problem(503, "Service Unavailable", "not ready", checks=checks).body()
        return JSONResponse(body, status_code=503, media_type=PROBLEM_JSON)

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    app = Starlette(
        routes=[
            Route("/docs", docs_index),
            Route("/", docs_index),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route(ASYNCAPI_PATH, asyncapi_endpoint),
            Route("/metrics", metrics_endpoint),
            Route("/{path:path}", proxy, methods=methods),
        ],
        lifespan=lifespan,
    )
    max_body = int(os.environ.get("GATEWAY_MAX_BODY_BYTES", 1_048_576))
    app.add_middleware(BodySizeLimit, max_bytes=max_body)
    # The same admission rule as every service (shared.admission), sized for all of them.
    app.add_middleware(
        Admission,
        max_in_flight=int(os.environ.get("GATEWAY_MAX_IN_FLIGHT", 64)),
        max_queued=int(os.environ.get("GATEWAY_MAX_QUEUED", 128)),
        queue_budget_s=float(os.environ.get("GATEWAY_QUEUE_BUDGET_MS", 20)) / 1000,
        service="gateway",
    )
    app.add_middleware(ObservabilityMiddleware)
    return app


def create_app() -> Starlette:
    """Factory for uvicorn (`shared.gateway:create_app --factory`)."""
    return create_gateway()
