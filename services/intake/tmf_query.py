"""TMF621 list queries in SQL: attribute filters with TMF630 operators, built in one function
(`list_query`) so the caller's access scope is one more WHERE clause.

`attr=v` (a comma means any of), `attr.op=v` or `attr[op]=v` with op in eq, ne, gt, gte, lt,
lte, in, nin. Dates take gt/gte/lt/lte; enumerations and text take eq/ne/in/nin. The shown
`severity` and `ticketType` are SQL expressions over what the caller stated and what we
judged, so a filter matches exactly what a GET shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, and_, case, func, not_, select, true

from services.intake import tmf_mapping as m
from services.intake.models import Complaint, TimelineEntry
from shared.errors import field_error

Kind = Literal["text", "date", "status", "severity"]
OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "nin")
RESERVED = frozenset({"fields", "offset", "limit", "sort"})


def _rank(level: Any) -> ColumnElement[int]:
    return case(*((level == k, v) for k, v in m.SEVERITY_RANK.items()), else_=1)


def _reported_rank() -> ColumnElement[int]:
    return case(
        *(
            (Complaint.reported_severity == k, m.SEVERITY_RANK[v])
            for k, v in m.SEVERITY_FROM_TMF.items()
        ),
        else_=0,
    )


def shown_severity() -> ColumnElement[str]:
    """SQL twin of tmf_mapping.shown_severity."""
    ours = case(
        *((Complaint.severity == k, v) for k, v in m.SEVERITY_TO_TMF.items()), else_="Minor"
    )
    return case(
        (
            and_(
                Complaint.reported_severity.is_not(None),
                _reported_rank() >= _rank(Complaint.severity),
            ),
            Complaint.reported_severity,
        ),
        else_=ours,
    )


def shown_ticket_type() -> ColumnElement[str]:
    return func.coalesce(Complaint.tmf_ticket_type, Complaint.category)


def _status_change_date() -> ColumnElement[datetime]:
    return (
        select(func.max(TimelineEntry.at))
        .where(TimelineEntry.complaint_id == Complaint.id, TimelineEntry.kind == "status")
        .scalar_subquery()
    )


@dataclass(frozen=True)
class Attribute:
    kind: Kind
    expr: Any  # a column or a SQL expression (built lazily: it may be a subquery)


def _attributes() -> dict[str, Attribute]:
    return {
        "id": Attribute("text", Complaint.ticket_no),
        "name": Attribute("text", Complaint.tmf_name),
        "description": Attribute("text", Complaint.description),
        "externalId": Attribute("text", Complaint.source_external_id),
        "ticketType": Attribute("text", shown_ticket_type()),
        "severity": Attribute("severity", shown_severity()),
        "status": Attribute("status", Complaint.status),
        "creationDate": Attribute("date", Complaint.received_at),
        "lastUpdate": Attribute("date", Complaint.updated_at),
        "statusChangeDate": Attribute("date", _status_change_date()),
    }


FILTERABLE = tuple(_attributes())
"""Top-level simple attributes a list can filter on. Not filterable (computed from the SLA
service's clocks or the timeline's JSON): expectedResolutionDate, resolutionDate,
statusChangeReason."""


def _parse_key(key: str) -> tuple[str, str]:
    if key.endswith("]") and "[" in key:
        name, _, op = key[:-1].partition("[")
        return name, op
    name, dot, op = key.rpartition(".")
    if dot and op in OPERATORS:
        return name, op
    return key, "eq"


def _date(param: str, value: str) -> datetime:
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise field_error(param, "not an ISO 8601 date-time", status=400) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _values(param: str, attr: Attribute, raw: str) -> list[Any]:
    values = [v.strip() for v in raw.split(",") if v.strip()] if attr.kind != "date" else [raw]
    if not values:
        raise field_error(param, "needs a value", status=400)
    if attr.kind == "severity":
        return [m.canonical_severity(v) or v for v in values]
    if attr.kind == "status":
        unknown = [v for v in values if v not in m.STATUS_FROM_TMF]
        if unknown:
            allowed = ", ".join(m.TMF_STATUSES)
            raise field_error(param, f"unknown status {unknown[0]!r}; one of {allowed}", 400)
        return [ours for v in values for ours in m.STATUS_FROM_TMF[v]]
    if attr.kind == "date":
        return [_date(param, raw)]
    return values


def _clause(param: str, name: str, op: str, raw: str) -> ColumnElement[bool]:
    attr = _attributes()[name]
    values = _values(param, attr, raw)
    if attr.kind == "date":
        if op in ("in", "nin"):
            raise field_error(param, f"operator {op} is not supported on dates", status=400)
        return {
            "eq": attr.expr == values[0],
            "ne": attr.expr != values[0],
            "gt": attr.expr > values[0],
            "gte": attr.expr >= values[0],
            "lt": attr.expr < values[0],
            "lte": attr.expr <= values[0],
        }[op]
    if op in ("gt", "gte", "lt", "lte"):
        raise field_error(param, f"operator {op} is only supported on dates", status=400)
    matches = attr.expr.in_(values)
    return not_(matches) if op in ("ne", "nin") else matches


def filters(params: Iterable[tuple[str, str]]) -> list[ColumnElement[bool]]:
    """WHERE clauses for a list's query parameters; 400 naming an unknown attribute or op."""
    clauses: list[ColumnElement[bool]] = []
    for key, raw in params:
        if key in RESERVED:
            continue
        name, op = _parse_key(key)
        if op not in OPERATORS:
            raise field_error(key, f"unknown operator; one of {', '.join(OPERATORS)}", 400)
        if name not in FILTERABLE:
            raise field_error(
                key, f"not a filterable attribute; one of {', '.join(FILTERABLE)}", 400
            )
        clauses.append(_clause(key, name, op, raw))
    return clauses


def list_query(
    params: Mapping[str, str] | Iterable[tuple[str, str]],
    scope: ColumnElement[bool] | None = None,
) -> Select[Complaint]:
    """The complaints a TMF621 list selects: the caller's scope and every attribute filter,
    newest first (stable)."""
    items = params.items() if isinstance(params, Mapping) else params
    clauses = filters(items)
    query = select(Complaint).where(scope if scope is not None else true(), *clauses)
    return query.order_by(Complaint.id.desc())
