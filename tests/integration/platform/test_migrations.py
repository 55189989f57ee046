"""Every service's migrations run up and down on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from alembic import command
from sqlalchemy import inspect

from shared.db import Database
from shared.migrations import alembic_config
from shared.topology import SERVICE_NAMES
from tests.conftest import DbTarget


@pytest.mark.parametrize("service", SERVICE_NAMES)
async def test_migrations_reach_head_match_the_models_and_downgrade(
    db_target: DbTarget, service: str
) -> None:
    cfg = alembic_config(service, db_target.url, db_target.schema)
    await asyncio.to_thread(command.upgrade, cfg, "head")
    await asyncio.to_thread(command.check, cfg)  # no model change lacks a migration
    db = Database(db_target.url, schema=db_target.schema)
    try:
        async with db.engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        module = __import__(f"services.{service}.models", fromlist=["Base"])
        assert set(module.Base.metadata.tables) <= tables
        assert {"outbox_message", "inbox_message", "idempotency_record"} <= tables
        await asyncio.to_thread(command.downgrade, cfg, "base")
        async with db.engine.connect() as conn:
            left = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        assert left <= {"alembic_version"}
    finally:
        await db.dispose()
