"""Refuse NUL characters in JSON text fields with 422 naming the field, before any handler:
PostgreSQL cannot store U+0000 in text (it would be a 500 there and accepted on SQLite)."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi.responses import JSONResponse

from shared.errors import PROBLEM_JSON, Problem

_ESCAPED_NUL = re.compile(rb"\\u0000", re.IGNORECASE)


def nul_path(value: Any, path: str = "") -> str | None:
    """The dotted path of the first string (or key) holding U+0000, if any."""
    if isinstance(value, str):
        return path or "body" if "\x00" in value else None
    if isinstance(value, dict):
        for k, v in value.items():
            here = f"{path}.{k}" if path else str(k)
            if "\x00" in str(k):
                return here
            found = nul_path(v, here)
            if found:
                return found
    if isinstance(value, list):
        for i, v in enumerate(value):
            found = nul_path(v, f"{path}.{i}" if path else str(i))
            if found:
                return found
    return None


class NulGuard:
    """ASGI middleware: a JSON body whose text carries `\\u0000` gets 422 naming the field."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "DELETE", "OPTIONS"):
            return await self.app(scope, receive, send)
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return await self.app(scope, _replay([message]), send)
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if _ESCAPED_NUL.search(body):
            try:
                field = nul_path(json.loads(body))
            except ValueError:
                field = None
            if field:
                problem = Problem(
                    422,
                    "Invalid request",
                    f"{field}: must not contain NUL (U+0000)",
                    errors=[{"field": field, "message": "must not contain NUL (U+0000)"}],
                )
                response = JSONResponse(
                    problem.body(scope.get("path")), status_code=422, media_type=PROBLEM_JSON
                )
                return await response(scope, receive, send)
        await self.app(scope, _replay([{"type": "http.request", "body": body}], receive), send)


def _replay(messages: list[dict[str, Any]], then: Any = None) -> Any:
    async def receive() -> Any:
        if messages:
            return messages.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive
