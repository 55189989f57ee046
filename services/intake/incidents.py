"""An incident's resolution closes its complaints (seed 000, seed 003 ch. 7): each linked,
still-open complaint is replied to and resolved with the incident's resolution text through
the normal lifecycle, so its clocks stop and its survey follows; one result per customer."""

from __future__ import annotations

from services.intake.handlers import Transition, find_complaint, transition
from services.intake.lifecycle import Command
from shared.db import UnitOfWork
from shared.events import IncidentResolved

# the commands that bring each open status one step nearer `resolved`
TOWARDS_RESOLVED: dict[str, Command] = {
    "pending": "resume",
    "received": "accept",
    "accepted": "reply",
    "in_progress": "reply",
    "reopened": "reply",
    "replied": "resolve",
}
ACTOR = "incident"


async def on_incident_resolved(event: IncidentResolved, uow: UnitOfWork) -> None:
    reason = f"incident {event.incident_id}"
    for ticket_no in dict.fromkeys(event.tickets):
        complaint = await find_complaint(uow, ticket_no)
        if complaint is None:
            continue  # not ours (another intake's), or gone: nothing to resolve
        for _ in range(len(TOWARDS_RESOLVED) + 1):
            command = TOWARDS_RESOLVED.get(complaint.status)
            if command is None:
                break  # resolved already, closed, archived or cancelled
            detail: dict[str, object] = {}
            if command == "reply":
                detail = {"message": event.resolution}
            elif command == "resolve":
                detail = {"resolution": event.resolution, "incident_id": event.incident_id}
            complaint = await transition(
                Transition(
                    ticket_no=ticket_no,
                    command=command,
                    actor=ACTOR,
                    reason=reason,
                    detail=detail,
                    at=event.resolved_at,
                ),
                uow,
            )
