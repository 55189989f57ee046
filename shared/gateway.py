"""The single entry URL: routes /v1/... and /tmf-api/... to the owning service by prefix."""

from __future__ import annotations

import asyncio
import html
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

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


def upstreams() -> dict[str, str]:
    """Service base URLs: GATEWAY_UPSTREAM_<NAME> or 127.0.0.1 on the service's port."""
    return {
        s.name: os.environ.get(f"GATEWAY_UPSTREAM_{s.name.upper()}", f"http://127.0.0.1:{s.port}")
        for s in SERVICES
    }


def _problem(status: int, title: str, detail: str) -> JSONResponse:
    return JSONResponse(
        Problem(status, title, detail).body(), status_code=status, media_type=PROBLEM_JSON
    )


def create_gateway(targets: dict[str, str] | None = None) -> Starlette:
    targets = targets or upstreams()
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
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        url = targets[spec.name] + raw_path.decode("latin-1")
        if request.url.query:
            url += "?" + request.url.query
        try:
            upstream = await client["c"].request(
                request.method, url, headers=headers, content=await request.body()
            )
        except httpx.InvalidURL:
            return _problem(400, "Bad Request", "the request target is not a valid URL")
        except httpx.TransportError as exc:
            return _problem(502, "Bad Gateway", f"{spec.name} unreachable: {type(exc).__name__}")
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
        async def check(name: str) -> tuple[str, str]:
            try:
                r = await client["c"].get(targets[name] + "/readyz", timeout=5)
                return name, "ok" if r.status_code == 200 else f"status {r.status_code}"
            except httpx.TransportError as exc:
                return name, f"error: {type(exc).__name__}"

        checks = dict(await asyncio.gather(*(check(s.name) for s in SERVICES)))
        if all(v == "ok" for v in checks.values()):
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
    app.add_middleware(ObservabilityMiddleware)
    return app


def create_app() -> Starlette:
    """Factory for uvicorn (`shared.gateway:create_app --factory`)."""
    return create_gateway()
