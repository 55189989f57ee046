"""The one mapping between TMF621's vocabulary and ours (severity, ticket type, status).

Pure data and functions; the facade (tmf.py), its SQL filters (tmf_query.py) and the OpenAPI
description (MAPPING_MARKDOWN) all read it from here.

Severity. TMF621 leaves `severity` a free string; callers use Critical/High/Medium/Low or
Critical/Major/Minor. What a caller states is recorded verbatim (canonical capitalisation) and
shown back, so a ticket reads the way its reporter filed it. Our own rules still judge the
handling severity (normal/major/urgent, DOMAIN.md): a caller cannot make a ticket "urgent"
(which pages the emergency leadership) by saying so. When our judgement ranks above what was
stated (the text mentions a safety risk, a surge made it major), TMF shows ours.

Ticket type. Any string is accepted and shown back verbatim; the table gives our category for
the known ones (a hint to the classifier), others are classified from the text.
"""

from __future__ import annotations

from typing import Final

# TMF severity (canonical spelling) -> our severity level it corresponds to.
SEVERITY_FROM_TMF: Final[dict[str, str]] = {
    "Critical": "urgent",
    "High": "major",
    "Major": "major",
    "Medium": "normal",
    "Minor": "normal",
    "Low": "normal",
}
# Our severity -> the TMF severity shown when our judgement outranks the stated one (or for
# tickets from our own channels, which state none).
SEVERITY_TO_TMF: Final[dict[str, str]] = {"urgent": "Critical", "major": "Major", "normal": "Minor"}
SEVERITY_RANK: Final[dict[str, int]] = {"normal": 1, "major": 2, "urgent": 3}

# TMF ticketType (compared case-insensitively) -> our category.
TICKET_TYPE_TO_CATEGORY: Final[dict[str, str]] = {
    "connectivity": "network",
    "network": "network",
    "coverage": "network",
    "signal": "network",
    "outage": "network",
    "billing": "billing",
    "bill": "billing",
    "charging": "billing",
    "valueadded": "value_added",
    "value_added": "value_added",
    "content": "value_added",
    "sp": "value_added",
    "tariff": "tariff",
    "pricing": "tariff",
    "plan": "tariff",
    "business": "business",
    "order": "business",
    "provisioning": "business",
    "servicerequest": "business",
    "service": "service",
    "customerservice": "service",
    "device": "device",
    "terminal": "device",
    "handset": "device",
}

# Our status -> TMF621 TroubleTicketStatusType.
STATUS_TO_TMF: Final[dict[str, str]] = {
    "received": "acknowledged",
    "accepted": "acknowledged",
    "in_progress": "inProgress",
    "replied": "inProgress",
    "reopened": "inProgress",
    "pending": "pending",
    "resolved": "resolved",
    "closed": "closed",
    "cancelled": "cancelled",
}
TMF_STATUSES: Final = (
    "acknowledged",
    "inProgress",
    "pending",
    "held",
    "resolved",
    "closed",
    "cancelled",
    "rejected",
)
STATUS_FROM_TMF: Final[dict[str, tuple[str, ...]]] = {
    tmf: tuple(ours for ours, t in STATUS_TO_TMF.items() if t == tmf) for tmf in TMF_STATUSES
}
STATUS_FROM_TMF["held"] = STATUS_FROM_TMF["pending"]  # we have one waiting state
STATUS_FROM_TMF["rejected"] = STATUS_FROM_TMF["cancelled"]


def canonical_severity(value: str) -> str | None:
    """The canonical spelling of a TMF severity (`high` -> `High`), None if unknown."""
    return next((k for k in SEVERITY_FROM_TMF if k.lower() == value.strip().lower()), None)


def shown_severity(reported: str | None, ours: str) -> str:
    """The TMF severity of a ticket: what its reporter stated, unless our judgement ranks
    higher."""
    if reported and SEVERITY_RANK[SEVERITY_FROM_TMF[reported]] >= SEVERITY_RANK.get(ours, 1):
        return reported
    return SEVERITY_TO_TMF.get(ours, "Minor")


def category_for(ticket_type: str) -> str | None:
    """Our category for a TMF ticketType, None when the text must decide."""
    return TICKET_TYPE_TO_CATEGORY.get(ticket_type.strip().lower().replace(" ", ""))


def _rows() -> list[str]:
    lines = ["| TMF621 severity | our severity |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in SEVERITY_FROM_TMF.items()]
    lines += ["", "| TMF621 ticketType (case-insensitive) | our category |", "|---|---|"]
    by_category: dict[str, list[str]] = {}
    for k, v in TICKET_TYPE_TO_CATEGORY.items():
        by_category.setdefault(v, []).append(k)
    lines += [f"| {', '.join(ks)} | {v} |" for v, ks in by_category.items()]
    lines += ["| anything else | classified from the description |"]
    lines += ["", "| our status | TMF621 status |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in STATUS_TO_TMF.items()]
    return lines


MAPPING_MARKDOWN: Final = "\n".join(_rows())
