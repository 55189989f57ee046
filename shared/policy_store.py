"""Run-time policies kept in a service's database: versions with an audit (who, when, old,
new), the version in force at an instant, and the GET/PUT routes ops use.

The mechanism only: each service defines its policy model (pydantic, with the seeds'
defaults) in its own `policy.py`, a `PolicyVersion` table from `PolicyVersionMixin`, and
mounts `policy_router`. A version applies from its `changed_at`: callers ask for the policy
in force when a complaint was *received*, so a change reaches new complaints only.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ValidationError
from sqlalchemy import JSON, Integer, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from shared.auth import Principal, require_roles
from shared.db import utcnow
from shared.errors import PROBLEM_RESPONSES, Problem
from shared.service import Runtime, runtime

P = TypeVar("P", bound=BaseModel)


class PolicyVersionMixin:
    """Columns of a policy version row: the policy as JSON and its audit."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(32), index=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    previous: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    changed_by: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)


class PolicyStore(Generic[P]):
    """One named policy of one service: a default (settings) and the stored versions."""

    def __init__(self, name: str, model: type[P], table: type[Any], default: P) -> None:
        self.name, self.model, self.table, self.default = name, model, table, default
        self._parsed: dict[int, P] = {}

    async def _row(self, session: AsyncSession, at: datetime | None) -> Any:
        query = select(self.table).where(self.table.name == self.name)
        if at is not None:
            query = query.where(self.table.changed_at <= at)
        return await session.scalar(query.order_by(self.table.id.desc()).limit(1))

    async def in_force(self, session: AsyncSession, at: datetime | None = None) -> P:
        """The policy in force at `at` (now if None): the latest version changed by then."""
        return (await self.versioned(session, at))[1]

    async def versioned(
        self, session: AsyncSession, at: datetime | None = None
    ) -> tuple[int | None, P]:
        """The policy in force at `at` and its version id (None: the settings' default), so
        a decision can record the rule it was taken under."""
        row = await self._row(session, at)
        if row is None:
            return None, self.default
        return row.id, self._parse(row)

    async def at_version(self, session: AsyncSession, version: int | None) -> P:
        """The policy of a recorded version (None: the settings' default)."""
        if version is None:
            return self.default
        if version not in self._parsed:
            row = await session.get(self.table, version)
            if row is None or row.name != self.name:
                return self.default
            return self._parse(row)
        return self._parsed[version]

    def _parse(self, row: Any) -> P:
        if row.id not in self._parsed:
            self._parsed[row.id] = self.model.model_validate(row.body)
        return self._parsed[row.id]

    async def change(
        self, session: AsyncSession, new: P, actor: str, reason: str | None, now: datetime
    ) -> Any:
        """Record `new` as the policy from `now` on, with the one it replaces."""
        old = await self.in_force(session)
        row = self.table(
            name=self.name,
            body=new.model_dump(mode="json"),
            previous=old.model_dump(mode="json"),
            changed_by=actor,
            changed_at=now,
            reason=reason,
        )
        session.add(row)
        await session.flush()
        return row


class PolicyChange(BaseModel):
    """One audited change of a policy."""

    id: int
    name: str
    changed_by: str
    changed_at: datetime
    reason: str | None
    previous: dict[str, Any] | None
    body: dict[str, Any]


def policy_router(
    prefix: str,
    store_of: Callable[[Request], PolicyStore[Any]],
    *,
    readers: tuple[str, ...],
    writers: tuple[str, ...] = ("ops",),
    tag: str = "policy",
    on_change: Callable[[Any], None] | None = None,
) -> APIRouter:
    """GET the policy in force, PUT a new one (audited), GET its change log."""
    router = APIRouter(prefix=prefix, tags=[tag], responses=PROBLEM_RESPONSES)
    Reader = Annotated[Principal, Depends(require_roles(*readers))]
    Writer = Annotated[Principal, Depends(require_roles(*writers))]
    Rt = Annotated[Runtime, Depends(runtime)]

    @router.get("", summary="The policy in force now")
    async def get_policy(_: Reader, rt: Rt, request: Request) -> dict[str, Any]:
        store = store_of(request)
        async with rt.db.sessions() as s:
            policy = await store.in_force(s)
        return policy.model_dump(mode="json")

    @router.put(
        "",
        summary="Replace the policy (audited: who, when, old, new); applies to complaints "
        "received from now on",
    )
    async def put_policy(
        body: dict[str, Any],
        principal: Writer,
        rt: Rt,
        request: Request,
        reason: Annotated[str | None, Query(max_length=500)] = None,
    ) -> dict[str, Any]:
        store = store_of(request)
        try:
            new = store.model.model_validate(body)
        except ValidationError as exc:
            raise Problem(
                422,
                "Invalid policy",
                "the policy does not validate",
                errors=[
                    {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
                    for e in exc.errors()
                ],
            ) from exc
        async with rt.db.uow() as uow:
            await store.change(uow.session, new, principal.sub, reason, utcnow())
            await uow.commit()
        if on_change is not None:
            on_change(new)
        return new.model_dump(mode="json")

    @router.get("/changes", response_model=list[PolicyChange], summary="Every change, newest first")
    async def policy_changes(_: Reader, rt: Rt, request: Request) -> list[PolicyChange]:
        store = store_of(request)
        async with rt.db.sessions() as s:
            rows = (
                await s.scalars(
                    select(store.table)
                    .where(store.table.name == store.name)
                    .order_by(store.table.id.desc())
                    .limit(200)
                )
            ).all()
        return [PolicyChange.model_validate(r, from_attributes=True) for r in rows]

    return router
