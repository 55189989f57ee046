"""The one way a route runs a command: unit of work, handler, commit, errors, idempotency.

A handler is `async def verb_noun(cmd: VerbNoun, uow: UnitOfWork) -> Result`: it stages
its writes and events in `uow` and raises domain exceptions (`shared.errors`); it never
commits and never speaks HTTP. A route parses, calls `run` (or `run_create` for a POST that
creates something under an `Idempotency-Key`), and shapes the result:

    ticket = await run(rt.db, handlers.accept_complaint, AcceptComplaint(no, actor))

A concurrent writer that changed the same row first (a version check) is a 409
`Concurrent update`, after `attempts` tries; the domain exceptions become problem+json in
`install_problem_handlers`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.orm.exc import StaleDataError

from shared.db import Database, UnitOfWork
from shared.errors import Conflict
from shared.idempotency import Created, IdempotentCreate, request_fingerprint

C = TypeVar("C")
R = TypeVar("R")

CommandHandler = Callable[[C, UnitOfWork], Awaitable[R]]

CONCURRENT_WRITES: tuple[type[Exception], ...] = (StaleDataError,)
"""What a concurrent writer to the same row causes (the version check)."""


def concurrent_update(what: str) -> Conflict:
    return Conflict(f"{what} changed meanwhile; read it and retry", title="Concurrent update")


async def run(
    db: Database,
    handler: CommandHandler[C, R],
    cmd: C,
    *,
    what: str | None = None,
    attempts: int = 1,
    conflicts: tuple[type[Exception], ...] = CONCURRENT_WRITES,
) -> R:
    """Run one command in its own transaction and commit; `attempts` > 1 re-runs it when a
    concurrent writer won (the handler reads afresh each time)."""
    for attempt in range(1, attempts + 1):
        try:
            async with db.uow() as uow:
                result = await handler(cmd, uow)
                await uow.commit()
                return result
        except conflicts as exc:
            if attempt == attempts:
                raise concurrent_update(what or "the resource") from exc
    raise AssertionError("unreachable")  # attempts >= 1


@dataclass(frozen=True)
class IdempotencyKey:
    """The `Idempotency-Key` of a creating POST, scoped (usually per caller), and its body."""

    scope: str
    key: str | None
    body: Any

    @property
    def fingerprint(self) -> str:
        return request_fingerprint(self.body)


async def run_create(
    store: IdempotentCreate,
    handler: CommandHandler[C, R],
    cmd: C,
    *,
    idempotency: IdempotencyKey,
    resource_id: Callable[[R], str],
    what: str | None = None,
    attempts: int = 1,
    conflicts: tuple[type[Exception], ...] = CONCURRENT_WRITES,
) -> Created:
    """Run a creating command at most once per key: a retry with the same key and body
    gets the original resource's id (`replayed=True`); the key is stored in the creating
    transaction, so simultaneous duplicates create one resource. `attempts` > 1 re-runs
    it when a concurrent writer won, as `run` does."""

    async def create(uow: UnitOfWork) -> Created:
        return Created(resource_id(await handler(cmd, uow)), replayed=False)

    for attempt in range(1, attempts + 1):
        try:
            return await store.run(
                scope=idempotency.scope,
                key=idempotency.key,
                fingerprint=idempotency.fingerprint,
                create=create,
            )
        except conflicts as exc:
            if attempt == attempts:
                raise concurrent_update(what or "the resource") from exc
    raise AssertionError("unreachable")  # attempts >= 1
