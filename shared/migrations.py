"""Alembic per service: programmatic config, and the shared body of every env.py."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import command, context, op
from alembic.config import Config
from sqlalchemy import MetaData, pool, text
from sqlalchemy.engine import Connection

from shared.cloudevents import Envelope, encode
from shared.db import UTCDateTime, create_engine, ensure_schema

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


# --- the platform tables, for each service's migrations ---------------------------------
# The models are `shared.outbox.platform_models`; these are their DDL, written once.
# Each service's initial revision calls `create_platform_tables()`; its parked-event
# revision calls `create_parked_event_table()`.


def create_platform_tables() -> None:
    """Create outbox_message, inbox_message and idempotency_record (inside a revision)."""

    op.create_table(
        "outbox_message",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("headers", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_message")),
        sa.UniqueConstraint("event_id", name=op.f("uq_outbox_message_event_id")),
    )
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_message_unsent",
            ["id"],
            unique=False,
            postgresql_where=sa.text("sent_at IS NULL"),
            sqlite_where=sa.text("sent_at IS NULL"),
        )
    op.create_table(
        "inbox_message",
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("processed_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_inbox_message")),
    )
    op.create_table(
        "idempotency_record",
        sa.Column("scope", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("resource_id", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_idempotency_record")),
    )


def drop_platform_tables() -> None:
    """The downgrade of `create_platform_tables`."""

    op.drop_table("idempotency_record")
    op.drop_table("inbox_message")
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_outbox_message_unsent",
            postgresql_where=sa.text("sent_at IS NULL"),
            sqlite_where=sa.text("sent_at IS NULL"),
        )
    op.drop_table("outbox_message")


def create_policy_version_table() -> None:
    """The `policy_version` table of shared/policy_store.py (a service's run-time policies,
    versioned and audited), for the migration that introduces it in a service."""
    op.create_table(
        "policy_version",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("previous", sa.JSON(), nullable=True),
        sa.Column("changed_by", sa.String(length=64), nullable=False),
        sa.Column("changed_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_version")),
    )
    op.create_index(op.f("ix_policy_version_name"), "policy_version", ["name"])


def drop_policy_version_table() -> None:
    op.drop_table("policy_version")


def create_parked_event_table() -> None:
    """Create parked_event: consumed events waiting for what they depend on (`NotYet`)."""

    op.create_table(
        "parked_event",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("headers", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("parked_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parked_event")),
        sa.UniqueConstraint("event_id", "key", name=op.f("uq_parked_event_event_id")),
    )
    with op.batch_alter_table("parked_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_parked_event_key"), ["key"], unique=False)
        batch_op.create_index(batch_op.f("ix_parked_event_parked_at"), ["parked_at"], unique=False)


def drop_parked_event_table() -> None:

    with op.batch_alter_table("parked_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_parked_event_parked_at"))
        batch_op.drop_index(batch_op.f("ix_parked_event_key"))
    op.drop_table("parked_event")


def park_envelope(
    connection: Connection, envelope: Envelope, *, reason: str, parked_at: datetime
) -> None:
    """Insert one event into parked_event (for data migrations that move holding rows)."""
    key, value, headers = encode(envelope)
    connection.execute(
        _PARKED.insert().values(
            key=key.decode(),
            event_id=envelope.id,
            event_type=envelope.type,
            topic=envelope.event.topic,
            headers=json.dumps([[k, v.decode()] for k, v in headers]),
            value=value.decode(),
            reason=reason,
            parked_at=parked_at,
        )
    )


_PARKED = sa.table(
    "parked_event",
    *(sa.column(c) for c in ("key", "event_id", "event_type", "topic", "headers", "value")),
    sa.column("reason"),
    sa.column("parked_at", UTCDateTime()),
)
