"""Async SQLAlchemy plumbing: declarative base, engine per service, unit of work."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import DateTime, MetaData, TypeDecorator, event, text
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

if TYPE_CHECKING:
    from shared.cloudevents import Envelope
    from shared.events import Event


class EventStager(Protocol):
    def stage(self, session: AsyncSession, event: Event) -> object: ...


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current instant, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite included)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; timestamps must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def service_metadata() -> MetaData:
    """Metadata with the project's constraint naming convention (one per service)."""
    return MetaData(naming_convention=NAMING)


TYPE_ANNOTATION_MAP: dict[Any, Any] = {datetime: UTCDateTime()}
"""Every service's base maps `datetime` to timezone-aware UTC timestamps."""


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, *, schema: str | None = None, **kwargs: Any) -> AsyncEngine:
    """An async engine; SQLite gets WAL and a busy timeout, PostgreSQL an optional schema.
    SQL parameters never reach a log or an error message (`hide_parameters`): they carry
    customers' numbers and words."""
    kwargs.setdefault("hide_parameters", True)
    if is_sqlite(url):
        db_path = make_url(url).database
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            # 32 MiB of page cache (default 2 MiB): index pages of a million-row table stay
            # in memory instead of being re-read for every row a batch touches.
            cur.execute("PRAGMA cache_size=-32768")
            cur.close()

        return engine
    connect_args: dict[str, Any] = {}
    if schema:
        connect_args["server_settings"] = {"search_path": schema}
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 10)
        kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, connect_args=connect_args, **kwargs)


async def ensure_schema(engine: AsyncEngine, schema: str | None) -> None:
    """Create the service's PostgreSQL schema if one is configured."""
    if schema and not is_sqlite(str(engine.url)):
        async with engine.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))


class Database:
    """An engine and its session factory, owned by one service."""

    def __init__(self, url: str, *, schema: str | None = None, **engine_kwargs: Any) -> None:
        self.url = url
        self.schema = schema
        self.engine = create_engine(url, schema=schema, **engine_kwargs)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.is_sqlite = is_sqlite(url)
        # Serialises writers on SQLite so concurrent requests queue instead of failing.
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._on_commit: list[Callable[[], None]] = []
        self.outbox: EventStager | None = None

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Register a callback run after every successful unit-of-work commit."""
        self._on_commit.append(callback)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


class UnitOfWork:
    """One transaction: `async with db.uow() as uow:` then `await uow.commit()`.

    Leaving the block without commit rolls back. Handlers never commit on their own.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self.session: AsyncSession
        self.envelope: Envelope | None = None
        """In a consumer: the CloudEvent being applied (its id, time, source)."""
        self.deferred: list[tuple[str, str]] = []
        """In a consumer: other keys this event must be applied to again (see `defer`)."""

    async def __aenter__(self) -> UnitOfWork:
        if self.db._write_lock is not None:
            await self.db._write_lock.acquire()
        self.session = self.db.sessions()
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.session.rollback()
            await self.session.close()
        finally:
            if self.db._write_lock is not None:
                self.db._write_lock.release()

    @property
    def consumed(self) -> Envelope:
        """In a consumer: the CloudEvent being applied (its id, time and source)."""
        if self.envelope is None:
            raise RuntimeError("not applying a consumed event")
        return self.envelope

    @property
    def event_id(self) -> str:
        """In a consumer: the id of the CloudEvent being applied (a dedup key)."""
        return self.consumed.id

    async def lock(self, key: str) -> None:
        """Serialise this transaction with every other one that locks the same key (a
        ticket number) until it ends: a PostgreSQL transaction advisory lock. SQLite has
        one writer at a time already."""
        if self.db.is_sqlite:
            return
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(current_schema() || :k))"),
            {"k": f"key:{key}"},
        )

    def defer(self, key: str, reason: str) -> None:
        """In a consumer: the event applied what it could, but another key (a ticket whose
        parent event has not arrived) still waits; the platform parks the event under
        `key` and replays the whole event after that key's next event. The handler must
        be idempotent for it, and should `lock(key)` before reading what it decides on."""
        self.deferred.append((key, reason))

    def publish(self, event: Event) -> None:
        """Stage an event in this transaction's outbox: published only if it commits."""
        if self.db.outbox is None:
            raise RuntimeError("this database has no outbox")
        self.db.outbox.stage(self.session, event)

    async def commit(self) -> None:
        await self.session.commit()
        for callback in self.db._on_commit:
            callback()

    async def rollback(self) -> None:
        await self.session.rollback()


async def session_scope(db: Database) -> AsyncIterator[AsyncSession]:
    """A read-mostly session for request handlers that only query."""
    async with db.sessions() as session:
        yield session
