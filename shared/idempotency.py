"""Idempotent creating POSTs: a retry with the same `Idempotency-Key` returns the original.

The key is recorded in the same transaction as the resource it created, so two
simultaneous requests with one key create one resource: the loser's insert hits the
primary key, rolls back, and replays the winner's result.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from shared.db import Database, UnitOfWork
from shared.errors import Problem

MAX_KEY_LENGTH = 200


def request_fingerprint(body: Any) -> str:
    """A stable hash of a request body (JSON-able)."""
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Created:
    resource_id: str
    replayed: bool


class IdempotentCreate:
    """Runs a create use case at most once per (scope, key)."""

    def __init__(self, db: Database, model: type[Any]) -> None:
        self.db = db
        self.model = model

    async def _existing(self, scope: str, key: str, fingerprint: str) -> Created | None:
        async with self.db.sessions() as session:
            record = await session.get(self.model, (scope, key))
        if record is None:
            return None
        if record.request_hash != fingerprint:
            raise Problem(
                422,
                "Idempotency-Key reused",
                "this Idempotency-Key was used with a different request body",
                errors=[{"field": "Idempotency-Key", "message": "reused with a different body"}],
            )
        return Created(record.resource_id, replayed=True)

    async def run(
        self,
        *,
        scope: str,
        key: str | None,
        fingerprint: str,
        create: Callable[[UnitOfWork], Awaitable[Created]],
    ) -> Created:
        """Create (committing) or replay. `create` stages its writes in the given unit of work."""
        if key is not None:
            if not key or len(key) > MAX_KEY_LENGTH:
                raise Problem(
                    422,
                    "Invalid request",
                    "Idempotency-Key must be 1-200 characters",
                    errors=[{"field": "Idempotency-Key", "message": "1-200 characters"}],
                )
            if (existing := await self._existing(scope, key, fingerprint)) is not None:
                return existing
        try:
            async with self.db.uow() as uow:
                created = await create(uow)
                if key is not None and not created.replayed:
                    uow.session.add(
                        self.model(
                            scope=scope,
                            key=key,
                            request_hash=fingerprint,
                            status_code=201,
                            resource_id=created.resource_id,
                        )
                    )
                await uow.commit()
                return created
        except IntegrityError:
            if key is not None and (existing := await self._existing(scope, key, fingerprint)):
                return existing
            raise
