"""The event catalogue: the contract between services (pydantic models, past-tense names).

Each event names its owning topic; the Kafka message key is the ticket number, so a
ticket's events stay in order. Consumers ignore unknown fields and unknown types.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

TICKET_TOPIC = "complaints.ticket.v1"
ROUTING_TOPIC = "complaints.routing.v1"
SLA_TOPIC = "complaints.sla.v1"
REFUND_TOPIC = "complaints.refund.v1"
NOTIFY_TOPIC = "complaints.notify.v1"
TOPICS = (TICKET_TOPIC, ROUTING_TOPIC, SLA_TOPIC, REFUND_TOPIC, NOTIFY_TOPIC)

EVENT_TYPES: dict[str, type[Event]] = {}


def dead_letter_topic(group: str) -> str:
    """The dead-letter topic of one consumer group (one per consuming service)."""
    return f"complaints.dlq.{group}.v1"


class Event(BaseModel):
    """Base of every event. Subclasses set `topic`; the class name is the CloudEvents type."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    topic: ClassVar[str]

    ticket_no: str

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "topic" in cls.__dict__:
            EVENT_TYPES[cls.__name__] = cls

    @classmethod
    def type_name(cls) -> str:
        return cls.__name__

    @property
    def key(self) -> str:
        return self.ticket_no


# --- the shared vocabulary -------------------------------------------------------------
# The words the events carry. Event fields stay `str` so that a consumer built before a
# new value was added still reads the event (forward compatible); APIs and handlers type
# with these.
Severity = Literal["normal", "major", "urgent"]
Category = Literal["network", "billing", "value_added", "tariff", "business", "service", "device"]
Channel = Literal[
    "hotline",
    "web",
    "app",
    "sms",
    "email",
    "letter",
    "store",
    "regulator",
    "consumer_association",
    "petition",
    "media",
]
TicketStatus = Literal[
    "received",
    "accepted",
    "in_progress",
    "replied",
    "resolved",
    "closed",
    "pending",
    "reopened",
    "cancelled",
    "archived",
]
ClockName = Literal[
    "acceptance",
    "first_reply",
    "resolution",
    "regulator",
    "initial_investigation",
    "confirmation",
    "detailed_investigation",
    "closed_loop",
    "result_feedback",
    "archive",
    "sp_acknowledge",
    "sp_answer",
    "agent_promise",
]
"""Every clock the SLA policy knows (services/sla/policy.py; most are off by default)."""
TERMINAL_STATUSES: frozenset[TicketStatus] = frozenset({"closed", "cancelled", "archived"})
"""A complaint in one of these is over: nothing more happens to it."""


# --- intake: complaints.ticket.v1 -------------------------------------------------------
class TicketReceived(Event):
    """A complaint was registered (the system of record now holds it)."""

    topic: ClassVar[str] = TICKET_TOPIC
    channel: str
    msisdn: str | None = Field(
        None,
        description="E.164; only consumers that contact the customer use it. None for a "
        "ticket without a customer (TMF621 or partner callers only): nobody is messaged",
    )
    msisdn_masked: str | None = None
    no_customer_reason: str | None = Field(
        None, description="Why the ticket has no customer number (set when msisdn is None)"
    )
    user_type: str | None = None
    description: str
    category_hint: str | None = None
    desk_id: str | None = None
    store_id: str | None = None
    location: str | None = None
    source_org: str | None = Field(None, description="The partner that transferred it, if any")
    email: str | None = Field(
        None, description="The customer's e-mail, if given: the result goes there too"
    )
    accepting_department: str
    over_level: bool = False
    received_at: datetime


class TicketClassified(Event):
    """Intake classified a complaint and judged its severity."""

    topic: ClassVar[str] = TICKET_TOPIC
    category: str
    confidence: float
    rule: str
    severity: Severity
    major: bool
    major_reasons: list[str] = Field(default_factory=list)
    over_level: bool = False
    channel: str
    accepting_department: str
    desk_id: str | None = None
    store_id: str | None = None
    received_at: datetime
    classified_by: str = "system"
    sp_code: str | None = Field(
        None, description="The SP it is about: given by the front-end or named in the text"
    )
    product: str | None = Field(
        None, description="The product the text names (sp_lexicon.tsv), for dispatch by product"
    )


class TicketStatusChanged(Event):
    """The complaint moved through its lifecycle (SLA clocks start, pause and stop on these)."""

    topic: ClassVar[str] = TICKET_TOPIC
    from_status: str | None
    to_status: str
    actor: str
    reason: str | None = None
    changed_at: datetime
    satisfied: bool | None = Field(None, description="Set on feedback-driven changes")
    resolution: str | None = Field(
        None, description="On `resolved`: the result as the customer is told it"
    )


class TicketNoteAdded(Event):
    """An append-only note was added to a complaint."""

    topic: ClassVar[str] = TICKET_TOPIC
    author: str
    text: str
    added_at: datetime


# --- routing: complaints.routing.v1 ---------------------------------------------------
class TicketAssigned(Event):
    """Routing decided who owns and who handles a complaint."""

    topic: ClassVar[str] = ROUTING_TOPIC
    owner_department: str
    handler_department: str
    assignee: str | None = None
    reason: str
    assigned_at: datetime


class TicketTransferred(Event):
    """A complaint's handler department changed (who, when, why)."""

    topic: ClassVar[str] = ROUTING_TOPIC
    from_department: str
    to_department: str
    actor: str
    reason: str
    transfer_count: int
    transferred_at: datetime


class TicketEscalated(Event):
    """A supervisor was appointed (升级/督办): SLA breach, major complaint, ping-pong, demand."""

    topic: ClassVar[str] = ROUTING_TOPIC
    trigger: str
    reason: str
    supervisor: str
    handler_department: str
    escalated_at: datetime
    cluster_id: str | None = Field(
        None, description="Escalated with its same-content cluster: staff hear once per cluster"
    )


class TicketMarkedMajor(Event):
    """Routing judged a complaint major (e.g. its surge passed the company-leader level)."""

    topic: ClassVar[str] = ROUTING_TOPIC
    reason: str
    cluster_id: str | None = None
    marked_at: datetime


class SurgeAlertRaised(Event):
    """A same-content cluster crossed an alert level; `ticket_no` is the one that tipped it."""

    topic: ClassVar[str] = ROUTING_TOPIC
    cluster_id: str
    level: str
    notify_role: str
    count: int
    tickets: list[str]
    raised_at: datetime
    # why the members were joined, how often each: {"place:翠苑": 3, "symptom:coverage": 3}
    reasons: dict[str, int] = Field(default_factory=dict)


class SurgeResolved(Event):
    """A surge was resolved: notify tells every affected customer once."""

    topic: ClassVar[str] = ROUTING_TOPIC
    cluster_id: str
    resolution: str
    tickets: list[str]
    resolved_at: datetime


class StaffContact(BaseModel):
    """One person the staff directory names for an alert (routing's directory)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    role: str
    name: str
    email: str | None = None
    mobile: str | None = None


class StaffAlertRaised(Event):
    """An alert for people (surge levels, overdue first answer, major cluster): one digest
    per cluster and alert, to the recipients routing's directory names; `ticket_no` is the
    ticket that tipped it. `alert_key` is stable, so a recipient hears of it once."""

    topic: ClassVar[str] = ROUTING_TOPIC
    alert_key: str
    kind: str
    cluster_id: str | None = None
    unit: str | None = Field(None, description="The desk, hall or department it concerns")
    count: int
    tickets: list[str] = Field(default_factory=list, description="The first few, oldest first")
    departments: list[str] = Field(default_factory=list)
    recipients: list[StaffContact]
    urgent: bool = False
    due_at: datetime | None = None
    raised_at: datetime


class IncidentDeclared(Event):
    """Emergency mode (应急预案, seed 000): an incident was declared; `ticket_no` is its key."""

    topic: ClassVar[str] = ROUTING_TOPIC
    incident_id: int
    title: str
    grade: str
    category: str
    area: str | None = None
    cause: str | None = None
    declared_by: str
    declared_at: datetime


class IncidentResolved(Event):
    """An incident was closed: intake replies to and resolves each linked ticket with the
    resolution text, through the normal lifecycle (clocks stop, the survey follows)."""

    topic: ClassVar[str] = ROUTING_TOPIC
    incident_id: int
    resolution: str
    tickets: list[str]
    resolved_by: str
    resolved_at: datetime


class ProgressEntry(BaseModel):
    """One entry of a ticket's progress (supervision ledger, agents' notes)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    at: datetime
    author: str
    text: str


class ProgressNoticeDue(Event):
    """A fix running past its notice period owes the complaining department a progress notice;
    `final` is the one result notice when a ticket that had notices is resolved."""

    topic: ClassVar[str] = ROUTING_TOPIC
    owner_department: str
    handler_department: str
    days_open: int
    due_at: datetime
    latest: list[ProgressEntry] = Field(default_factory=list, description="Newest first")
    final: bool = False
    resolution: str | None = None


# --- sla: complaints.sla.v1 -----------------------------------------------------------
class SlaClock(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    name: str
    due_at: datetime
    state: str
    provisional: bool = False


class SlaClocksStarted(Event):
    """The SLA service started the clocks of a complaint."""

    topic: ClassVar[str] = SLA_TOPIC
    clocks: list[SlaClock]


class SlaDeadlinesChanged(Event):
    """Deadlines moved: a pause, a resume, a reopen or a calendar reload."""

    topic: ClassVar[str] = SLA_TOPIC
    clocks: list[SlaClock]
    reason: str


class SlaWarning(Event):
    """A clock is close to its deadline (published once per clock and threshold)."""

    topic: ClassVar[str] = SLA_TOPIC
    clock: str
    threshold: str
    due_at: datetime
    handler_department: str | None = None


class SlaBreached(Event):
    """A clock passed its deadline unmet (published once per clock)."""

    topic: ClassVar[str] = SLA_TOPIC
    clock: str
    due_at: datetime
    handler_department: str | None = None


class SlaMet(Event):
    """A clock stopped in time."""

    topic: ClassVar[str] = SLA_TOPIC
    clock: str
    due_at: datetime
    met_at: datetime


class SlaDeadlineExtended(Event):
    """A clock's limit was extended (延期, seed 003 §4.1): the customer is told the reason."""

    topic: ClassVar[str] = SLA_TOPIC
    clock: str
    old_due_at: datetime
    new_due_at: datetime
    provisional: bool = False
    working_days: int
    reason: str
    extended_by: str
    extended_at: datetime


# --- refund: complaints.refund.v1 -----------------------------------------------------
class RefundRequested(Event):
    topic: ClassVar[str] = REFUND_TOPIC
    refund_id: str
    kind: str
    amount_fen: int
    status: str
    required_role: str | None = None
    requested_by: str
    requested_at: datetime
    charge_type: str | None = None
    tier: str | None = Field(
        None, description="The least authority that covers it: frontline ... leadership"
    )
    tier_limit_fen: int | None = Field(
        None, description="That authority's inclusive limit under the policy applied (None: none)"
    )


class RefundApproved(Event):
    """For the billing system: pay this out."""

    topic: ClassVar[str] = REFUND_TOPIC
    refund_id: str
    kind: str
    amount_fen: int
    approved_by: str
    approved_at: datetime
    charge_type: str | None = None
    tier: str | None = Field(None, description="As on RefundRequested")
    tier_limit_fen: int | None = None


class RefundRejected(Event):
    topic: ClassVar[str] = REFUND_TOPIC
    refund_id: str
    rejected_by: str
    reason: str
    rejected_at: datetime


class RefundPaid(Event):
    """Billing paid the refund out; notify tells the customer."""

    topic: ClassVar[str] = REFUND_TOPIC
    refund_id: str
    amount_fen: int
    billing_ref: str
    paid_at: datetime


class RefundEscalated(Event):
    """A refund waited for approval longer than allowed; the next authority up is told."""

    topic: ClassVar[str] = REFUND_TOPIC
    refund_id: str
    required_role: str
    waiting_since: datetime
    escalated_at: datetime


class SpDisputeOpened(Event):
    """An SP charge is disputed: the SP has 15 days to prove the subscription."""

    topic: ClassVar[str] = REFUND_TOPIC
    dispute_id: str
    sp_code: str
    charge_amount_fen: int
    proof_due_at: datetime


class SpChargeHeld(Event):
    """For billing: do not collect this unpaid, disputed SP charge until the dispute closes
    (seed 002: 代收费用需待争议解决后方可向用户收取). Proven → collect; else never."""

    topic: ClassVar[str] = REFUND_TOPIC
    dispute_id: str
    sp_code: str
    amount_fen: int
    held_at: datetime


class SpDisputeClosed(Event):
    """The SP proved the subscription, or the window passed and a provisional refund was made."""

    topic: ClassVar[str] = REFUND_TOPIC
    dispute_id: str
    outcome: Literal["proven", "provisional_refund", "not_collected"]
    refund_id: str | None = None
    closed_at: datetime


# --- notify: complaints.notify.v1 -----------------------------------------------------
class NotificationRecorded(Event):
    """Notify recorded a message to send (before sending it)."""

    topic: ClassVar[str] = NOTIFY_TOPIC
    notification_id: str
    channel: str
    template: str
    recipient_masked: str
    status: str


class SurveyReplied(Event):
    """A customer answered the satisfaction survey by SMS (mapped back to intake feedback)."""

    topic: ClassVar[str] = NOTIFY_TOPIC
    satisfied: bool
    raw_reply: str
    replied_at: datetime
    score: int | None = Field(None, description="1-5 as the reply reads (非常满意 5 ... 不满意 1)")
