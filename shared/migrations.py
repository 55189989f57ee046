"""Alembic per service: programmatic config, and the shared body of every env.py."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool, text
from sqlalchemy.engine import Connection

from shared.db import create_engine, ensure_schema

SERVICES_DIR = Path(__file__).resolve().parent.parent / "services"


def alembic_config(service: str, url: str, schema: str | None = None) -> Config:
    """An Alembic config for one service's migrations folder and database."""
    cfg = Config()
    cfg.set_main_option("script_location", str(SERVICES_DIR / service / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(slug)s")
    cfg.attributes["db_schema"] = schema
    return cfg


def upgrade(service: str, url: str, schema: str | None = None, revision: str = "head") -> None:
    """Migrate a service's database (blocking; runs its own event loop)."""
    command.upgrade(alembic_config(service, url, schema), revision)


async def upgrade_async(service: str, url: str, schema: str | None = None) -> None:
    """Migrate from async code (Alembic's async env needs a loop of its own)."""
    await asyncio.to_thread(upgrade, service, url, schema)


def _do_run(connection: Connection, metadata: MetaData) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Replicas starting together migrate one after the other: the lock is held until
            # this transaction commits, and the next one then finds the schema at head.
            key = f"alembic:{context.config.get_main_option('script_location')}"
            connection.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})
        context.run_migrations()


def run_env(metadata: MetaData) -> None:
    """The body of each service's migrations/env.py (online mode, async engine)."""
    cfg = context.config
    url = cfg.get_main_option("sqlalchemy.url") or ""
    schema = cfg.attributes.get("db_schema")

    async def main() -> None:
        engine = create_engine(url, schema=schema, poolclass=pool.NullPool)
        await ensure_schema(engine, schema)
        async with engine.connect() as conn:
            await conn.run_sync(_do_run, metadata)
            await conn.commit()
        await engine.dispose()

    asyncio.run(main())
