"""The complaint lifecycle as data: which command moves which status where. No I/O.

received → accepted → in_progress → replied → resolved → closed → archived
pending:   waiting on the customer (SLA clocks pause); `resume` returns to where it was
reopened:  the customer was not satisfied with the resolution; work starts again
cancelled: withdrawn or a duplicate, with a reason
closed:    by the customer's survey answer, or by the system when none came in time
           (`no_reply`); archived by the system a few working days later
archived:  read-only (seed 003 §3.5.3): no command applies, every clock is final
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from shared.events import TERMINAL_STATUSES
from shared.events import TicketStatus as Status

Command = Literal[
    "accept", "start", "reply", "hold", "resume", "resolve", "feedback", "cancel",
    "close_unanswered", "archive",
]  # fmt: skip
SYSTEM_COMMANDS: frozenset[Command] = frozenset({"close_unanswered", "archive"})
"""Run by intake's own timers, never over the API (so not listed as allowed to callers)."""

STATUSES: tuple[Status, ...] = get_args(Status)
TERMINAL: frozenset[Status] = TERMINAL_STATUSES
OPEN_WORK: tuple[Status, ...] = ("accepted", "in_progress", "replied", "reopened")

TRANSITIONS: dict[Command, dict[Status, Status]] = {
    "accept": {"received": "accepted"},
    "start": {"accepted": "in_progress", "reopened": "in_progress"},
    "reply": {"accepted": "replied", "in_progress": "replied", "reopened": "replied"},
    "hold": {s: "pending" for s in OPEN_WORK},
    "resolve": {"in_progress": "resolved", "replied": "resolved", "reopened": "resolved"},
    "cancel": {s: "cancelled" for s in ("received", "pending", *OPEN_WORK)},
    # `resume` and `feedback` depend on more than the status; see `next_status`.
    "resume": {"pending": "pending"},
    "feedback": {"resolved": "closed"},
    "close_unanswered": {"resolved": "closed"},
    "archive": {"closed": "archived"},
}


class IllegalTransition(Exception):
    """The command does not apply to the complaint's current status."""

    def __init__(self, command: str, status: str) -> None:
        super().__init__(f"cannot {command} a complaint that is {status}")
        self.command = command
        self.status = status
        self.allowed = allowed_commands(status)


def allowed_commands(status: str) -> list[str]:
    """The commands that apply to a status, in lifecycle order."""
    return [c for c, moves in TRANSITIONS.items() if status in moves and c not in SYSTEM_COMMANDS]


@dataclass(frozen=True)
class Move:
    to: Status
    from_: Status


def next_status(
    command: Command,
    status: Status,
    *,
    held_from: Status | None = None,
    satisfied: bool | None = None,
) -> Move:
    """Where `command` takes a complaint in `status`, or IllegalTransition."""
    moves = TRANSITIONS[command]
    if status not in moves:
        raise IllegalTransition(command, status)
    if command == "resume":
        return Move(held_from or "in_progress", status)
    if command == "feedback":
        return Move("closed" if satisfied else "reopened", status)
    return Move(moves[status], status)
