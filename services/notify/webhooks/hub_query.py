"""The TMF621 hub `query` (TMF630 notification filter): which event types a listener wants,
and conditions on the ticket the event carries. No I/O.

    eventType=TroubleTicketStatusChangeEvent,TroubleTicketResolvedEvent
    &event.troubleTicket.severity=Critical,Major&event.troubleTicket.status=resolved

`eventType` (or `eventType.in`) selects types (all when absent); every other clause names an
attribute of the event's ticket, with or without the `event.troubleTicket.` prefix, and a
comma-separated list of accepted values. A notification is delivered only when every
condition holds; an event that does not carry the attribute does not match.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

TMF_EVENT_TYPES = (
    "TroubleTicketCreateEvent",
    "TroubleTicketStatusChangeEvent",
    "TroubleTicketAttributeValueChangeEvent",
    "TroubleTicketResolvedEvent",
    "TroubleTicketInformationRequiredEvent",
)
FILTERABLE = ("id", "status", "severity", "ticketType", "channel.name", "externalId")
PREFIX = "event.troubleTicket."


@dataclass(frozen=True)
class HubQuery:
    event_types: tuple[str, ...] = TMF_EVENT_TYPES
    conditions: dict[str, frozenset[str]] = field(default_factory=dict)

    def admits(self, event_type: str, body: dict[str, Any]) -> bool:
        """Whether the notification `body` of `event_type` passes this query."""
        if event_type not in self.event_types:
            return False
        ticket = body.get("event", {}).get("troubleTicket", {})
        for path, accepted in self.conditions.items():
            value: Any = ticket
            for part in path.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            if value is None or str(value) not in accepted:
                return False
        return True


def parse(query: str | None) -> HubQuery:
    """The query's event types and conditions; ValueError naming what is wrong."""
    if not query or not query.strip():
        return HubQuery()
    wanted: list[str] = []
    conditions: dict[str, frozenset[str]] = {}
    for clause in query.split("&"):
        if not clause.strip():
            continue
        name, eq, raw = clause.partition("=")
        name = unquote_plus(name.strip())
        values = frozenset(v.strip() for v in unquote_plus(raw).split(",") if v.strip())
        if not eq or not values:
            raise ValueError(f"{name or clause!r} needs a value (name=value)")
        if name in ("eventType", "eventType.in"):
            wanted += sorted(values)
            continue
        path = name.removeprefix(PREFIX)
        if path not in FILTERABLE:
            known = ", ".join(("eventType", *FILTERABLE))
            raise ValueError(f"cannot filter on {name!r}; one of {known}")
        conditions[path] = values
    unknown = [w for w in wanted if w not in TMF_EVENT_TYPES]
    if unknown:
        raise ValueError(f"unknown eventType(s): {', '.join(unknown)}")
    types = tuple(t for t in TMF_EVENT_TYPES if t in wanted) if wanted else TMF_EVENT_TYPES
    return HubQuery(event_types=types, conditions=conditions)
