"""The one use-case shape: a route runs a command through `shared.usecase`, which commits
once, rolls back on a refusal, replays an idempotent create, and maps domain exceptions to
problem+json; consumers hand handlers the typed event."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm.exc import StaleDataError

from services.routing.models import Department, platform
from shared.db import Database, UnitOfWork
from shared.errors import Conflict, Invalid, NotAllowed, NotFound, install_problem_handlers
from shared.idempotency import IdempotentCreate
from shared.usecase import IdempotencyKey, run, run_create
from tests.conftest import DbTarget
from tests.integration.platform.fixtures import migrate


@pytest.fixture
async def db(db_target: DbTarget) -> AsyncIterator[Database]:
    await migrate("routing", db_target)
    database = Database(db_target.url, schema=db_target.schema)
    yield database
    await database.dispose()


@dataclass(frozen=True)
class OpenDepartment:
    code: str
    refuse: bool = False


async def open_department(cmd: OpenDepartment, uow: UnitOfWork) -> Department:
    department = Department(code=cmd.code, name=cmd.code, kind="province", manager="m")
    uow.session.add(department)
    await uow.session.flush()
    if cmd.refuse:
        raise Invalid("code", "refused after the write was staged")
    return department


async def _departments(db: Database) -> int:
    async with db.sessions() as s:
        return await s.scalar(select(func.count()).select_from(Department)) or 0


async def test_a_command_run_for_a_route_is_committed_once(db: Database) -> None:
    before = await _departments(db)
    department = await run(db, open_department, OpenDepartment("d-one"))
    assert department.code == "d-one"
    assert await _departments(db) == before + 1


async def test_a_refused_command_changes_nothing(db: Database) -> None:
    before = await _departments(db)
    with pytest.raises(Invalid):
        await run(db, open_department, OpenDepartment("d-refused", refuse=True))
    assert await _departments(db) == before


async def test_an_idempotent_create_retried_with_its_key_returns_the_original(
    db: Database,
) -> None:
    store = IdempotentCreate(db, platform.models.idempotency)
    key = IdempotencyKey(scope="tests:u1", key="k-1", body={"code": "d-idem"})
    first = await run_create(
        store, open_department, OpenDepartment("d-idem"), idempotency=key, resource_id=_code
    )
    again = await run_create(
        store, open_department, OpenDepartment("d-idem"), idempotency=key, resource_id=_code
    )
    assert (first.resource_id, first.replayed) == ("d-idem", False)
    assert (again.resource_id, again.replayed) == ("d-idem", True)


def _code(d: Department) -> str:
    return d.code


async def test_domain_exceptions_reach_callers_as_problem_json_naming_the_field() -> None:
    app = FastAPI()
    install_problem_handlers(app)
    refusals = {
        "missing": NotFound("no complaint T-1"),
        "closed": Conflict("T-1 is closed", allowed=["reopen"], status_now="closed"),
        "authority": NotAllowed("beyond your authority"),
        "amount": Invalid("amount", "at most 2 decimal places"),
    }

    @app.get("/{what}")
    async def refuse(what: str) -> None:
        raise refusals[what]

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        missing = await client.get("/missing")
        closed = await client.get("/closed")
        authority = await client.get("/authority")
        amount = await client.get("/amount")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["detail"] == "no complaint T-1"
    assert closed.status_code == 409
    assert closed.json()["allowed"] == ["reopen"]
    assert closed.json()["status_now"] == "closed"
    assert authority.status_code == 403
    assert amount.status_code == 422
    assert amount.json()["errors"] == [{"field": "amount", "message": "at most 2 decimal places"}]


async def test_a_create_that_loses_to_a_concurrent_writer_is_run_again_then_refused(
    db: Database,
) -> None:
    """`attempts` re-runs the whole create (key and all) after a conflict; when it keeps
    losing, the caller gets the 409 `Concurrent update`, and nothing was created."""
    store = IdempotentCreate(db, platform.models.idempotency)
    tries: list[str] = []

    async def losing_once(cmd: OpenDepartment, uow: UnitOfWork) -> Department:
        tries.append(cmd.code)
        department = await open_department(cmd, uow)
        if len(tries) == 1:
            raise StaleDataError("a concurrent writer changed the row first")
        return department

    key = IdempotencyKey(scope="tests:u2", key="k-2", body={"code": "d-retry"})
    created = await run_create(
        store,
        losing_once,
        OpenDepartment("d-retry"),
        idempotency=key,
        resource_id=_code,
        attempts=2,
    )
    assert (created.resource_id, tries) == ("d-retry", ["d-retry", "d-retry"])

    async def always_losing(cmd: OpenDepartment, uow: UnitOfWork) -> Department:
        await open_department(cmd, uow)
        raise StaleDataError("a concurrent writer changed the row first")

    before = await _departments(db)
    lost = IdempotencyKey(scope="tests:u2", key="k-3", body={"code": "d-lost"})
    with pytest.raises(Conflict) as refused:
        await run_create(
            store,
            always_losing,
            OpenDepartment("d-lost"),
            idempotency=lost,
            resource_id=_code,
            attempts=3,
            what="department d-lost",
        )
    assert refused.value.title == "Concurrent update"
    assert "department d-lost changed meanwhile" in refused.value.detail
    assert await _departments(db) == before
