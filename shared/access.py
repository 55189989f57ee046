"""Access scopes: the mechanism that turns a service's access rules into a check on one ticket
and a SQL filter on a list. The rules (who gets which scope) live in each service's domain code;
this module only knows how to apply a scope.

A scope admits a ticket when it admits everything, or when any of the ticket's departments,
its transferring partner organisation or its SP code is in the scope's sets. Lists filter in SQL
with the same predicate, so a denied ticket is never fetched and a list simply omits it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, false, or_, true

from shared.errors import Problem


@dataclass(frozen=True)
class TicketFacts:
    """What access decisions need to know about a ticket."""

    departments: frozenset[str] = frozenset()
    """Accepting (owner) and handling departments."""
    source_org: str | None = None
    sp_code: str | None = None


@dataclass(frozen=True)
class Scope:
    """The tickets a principal reaches for one purpose (read or act)."""

    everything: bool = False
    departments: frozenset[str] = frozenset()
    source_orgs: frozenset[str] = frozenset()
    sp_codes: frozenset[str] = frozenset()

    @classmethod
    def nothing(cls) -> Scope:
        return cls()

    @classmethod
    def all(cls) -> Scope:
        return cls(everything=True)

    def union(self, other: Scope) -> Scope:
        return Scope(
            everything=self.everything or other.everything,
            departments=self.departments | other.departments,
            source_orgs=self.source_orgs | other.source_orgs,
            sp_codes=self.sp_codes | other.sp_codes,
        )

    @property
    def empty(self) -> bool:
        return not (self.everything or self.departments or self.source_orgs or self.sp_codes)

    def admits(self, ticket: TicketFacts) -> bool:
        if self.everything:
            return True
        return bool(
            self.departments & ticket.departments
            or (ticket.source_org is not None and ticket.source_org in self.source_orgs)
            or (ticket.sp_code is not None and ticket.sp_code in self.sp_codes)
        )

    def where(
        self,
        *,
        departments: Iterable[ColumnElement[str | None]] | Iterable[object],
        source_org: object | None = None,
        sp_code: object | None = None,
    ) -> ColumnElement[bool]:
        """The same predicate as `admits`, over the given columns, for a list's WHERE clause."""
        if self.everything:
            return true()
        clauses: list[ColumnElement[bool]] = []
        if self.departments:
            wanted = sorted(self.departments)
            clauses.extend(column.in_(wanted) for column in departments)  # type: ignore[attr-defined]
        if self.source_orgs and source_org is not None:
            clauses.append(source_org.in_(sorted(self.source_orgs)))  # type: ignore[attr-defined]
        if self.sp_codes and sp_code is not None:
            clauses.append(sp_code.in_(sorted(self.sp_codes)))  # type: ignore[attr-defined]
        return or_(*clauses) if clauses else false()


def department_with_units(dept: str | None, sub_units: dict[str, list[str]]) -> frozenset[str]:
    """A department and, transitively, its sub-units (a configured tree, cycles ignored)."""
    if not dept:
        return frozenset()
    seen: set[str] = set()
    todo = [dept]
    while todo:
        d = todo.pop()
        if d in seen:
            continue
        seen.add(d)
        todo.extend(sub_units.get(d, []))
    return frozenset(seen)


def not_found(kind: str, key: str) -> Problem:
    """What a caller outside the scope gets for a single resource: it does not confirm existence."""
    return Problem(404, "Not Found", f"no {kind} {key}")


def forbidden(detail: str) -> Problem:
    return Problem(403, "Forbidden", detail)
