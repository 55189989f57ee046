"""Customer use cases: what each event makes us tell the customer by SMS, and what notify
keeps about each ticket to do so. Recorded (pending) in the consuming transaction; the
dispatcher sends later.

The registration SMS carries the complaint number and the promised times, which come from the
SLA service (SlaClocksStarted). It is recorded when TicketReceived arrives, held for up to
`registration_wait_for_clocks_s`, filled in and released when the clocks arrive (in either
order), and sent without the times if they are late."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from services.notify import domain
from services.notify.models import Notification, TicketContact
from services.notify.recording import contact, record, record_without_customer
from services.notify.settings import NotifySettings
from services.notify.templates import template
from shared.db import UnitOfWork, utcnow
from shared.errors import NotYet
from shared.events import (
    RefundApproved,
    RefundPaid,
    SlaClocksStarted,
    SlaDeadlineExtended,
    SurgeResolved,
    TicketAssigned,
    TicketClassified,
    TicketReceived,
    TicketStatusChanged,
)

log = logging.getLogger(__name__)
STATUS_TEMPLATES = {
    "accepted": "ticket_accepted",
    "replied": "ticket_first_reply",
    "resolved": "ticket_resolved",
    "reopened": "ticket_reopened",
}
PROMISED = ("acceptance", "first_reply", "resolution")


def _caveat(provisional: bool) -> str:
    return f"（{domain.PROVISIONAL_CAVEAT}）" if provisional else ""


class Notify:
    """The customer-facing handlers."""

    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings
        self.policy = settings.notification_policy()

    def _times(self, clocks: dict[str, Any] | None) -> dict[str, str] | None:
        """The promised times as the customer reads them, with the caveat when one lies on a
        calendar not yet published; None until the clocks are known."""
        if not clocks or not all(name in clocks for name in PROMISED):
            return None
        tz, now = self.settings.timezone, utcnow()
        times = {
            f"{name}_due": domain.deadline_text(datetime.fromisoformat(clocks[name]), now, tz)
            for name in PROMISED
        }
        provisional = set(clocks.get("_provisional") or ()) & set(PROMISED)
        return {**times, "caveat": _caveat(bool(provisional))}

    # --- the customer's complaint ------------------------------------------------------------
    async def on_ticket_received(self, event: TicketReceived, uow: UnitOfWork) -> None:
        """投诉编码 by SMS; with the promised times if the clocks are known already, otherwise
        held (up to `registration_wait_for_clocks_s`) for SlaClocksStarted to fill them in."""
        row = await contact(uow, event.ticket_no)
        row.msisdn, row.msisdn_masked = event.msisdn, event.msisdn_masked
        row.email = event.email
        row.channel, row.status = event.channel, row.status or "received"
        row.source_org = event.source_org
        if event.msisdn is None:
            row.no_customer_reason = event.no_customer_reason or "not given"
            await record_without_customer(
                uow, uow.event_id, "ticket_registered", event.ticket_no, row.no_customer_reason, {}
            )
            return
        times = self._times(row.clocks)
        wait = timedelta(seconds=self.settings.registration_wait_for_clocks_s)
        await record(
            uow,
            uow.event_id,
            "ticket_registered",
            event.msisdn,
            {"ticket_no": event.ticket_no, **(times or {})},
            ticket_no=event.ticket_no,
            alternate=times is None,
            send_after=utcnow() + (wait if times is None else timedelta(0)),
        )

    async def on_sla_clocks_started(self, event: SlaClocksStarted, uow: UnitOfWork) -> None:
        row = await contact(uow, event.ticket_no)
        row.clocks = {
            **{c.name: c.due_at.isoformat() for c in event.clocks},
            "_provisional": [c.name for c in event.clocks if c.provisional],
        }
        times = self._times(row.clocks)
        if times is None:
            return
        # Compare-and-set: only a message no dispatcher has touched yet gets the times.
        body = template("ticket_registered").render({"ticket_no": event.ticket_no, **times}).body
        await uow.session.execute(
            update(Notification)
            .where(
                Notification.ticket_no == event.ticket_no,
                Notification.template == "ticket_registered",
                Notification.status == "pending",
                Notification.attempts == 0,
                Notification.lease_until.is_(None),
            )
            .values(body=body, send_after=utcnow())
            .execution_options(synchronize_session=False)
        )

    async def on_ticket_classified(self, event: TicketClassified, uow: UnitOfWork) -> None:
        row = await contact(uow, event.ticket_no)
        row.category, row.severity = event.category, event.severity
        if self.policy.may_wake("ticket_registered", event.severity):
            # An urgent complaint's registration SMS goes out even in quiet hours.
            await uow.session.execute(
                update(Notification)
                .where(
                    Notification.ticket_no == event.ticket_no,
                    Notification.template == "ticket_registered",
                    Notification.status == "pending",
                )
                .values(urgent=True)
                .execution_options(synchronize_session=False)
            )

    async def on_sla_deadline_extended(self, event: SlaDeadlineExtended, uow: UnitOfWork) -> None:
        """Seed 003 §4.1: the customer is told why the handling takes longer, once."""
        row = await contact(uow, event.ticket_no)
        values = {
            "reason": event.reason.rstrip("。."),
            "new_due": domain.deadline_text(event.new_due_at, utcnow(), self.settings.timezone),
            "caveat": _caveat(event.provisional),
        }
        await self._to_customer(uow, uow.event_id, row, "sla_extended", values)

    async def on_ticket_assigned(self, event: TicketAssigned, uow: UnitOfWork) -> None:
        row = await contact(uow, event.ticket_no)
        row.handler_department = event.handler_department

    async def on_ticket_status_changed(self, event: TicketStatusChanged, uow: UnitOfWork) -> None:
        row = await contact(uow, event.ticket_no)
        row.status = event.to_status
        name = STATUS_TEMPLATES.get(event.to_status)
        if event.to_status == "resolved":
            row.survey_open, row.resolved_at = True, event.changed_at
        elif event.to_status in ("reopened", "closed", "cancelled"):
            row.survey_open = False
        if name == "ticket_first_reply":
            if row.first_reply_sent:
                return
            row.first_reply_sent = True
        if name == "ticket_resolved":
            await self._result(uow, uow.event_id, row, event.resolution)
        elif name is not None:
            await self._to_customer(uow, uow.event_id, row, name, {})

    async def _result(
        self, uow: UnitOfWork, source_event_id: str, row: TicketContact, result: str | None
    ) -> None:
        """The result SMS carries the result (cut short, pointing to 10086); a customer who
        gave an e-mail address gets it in full by e-mail as well."""
        short = domain.result_for_sms(result, self.settings.sms_result_max_chars)
        await self._to_customer(uow, source_event_id, row, "ticket_resolved", {"result": short})
        if row.email:
            full = (result or "").strip() or "详情请咨询10086"
            values = {"ticket_no": row.ticket_no, "result": full}
            await record(
                uow, source_event_id, "ticket_resolved_email", row.email, values,
                ticket_no=row.ticket_no,
            )  # fmt: skip

    async def _to_customer(
        self,
        uow: UnitOfWork,
        source_event_id: str,
        row: TicketContact,
        name: str,
        values: dict[str, str],
    ) -> None:
        if row.no_customer_reason is not None:
            await record_without_customer(
                uow, source_event_id, name, row.ticket_no, row.no_customer_reason, values
            )
            return
        if row.msisdn is None:
            # Read ahead of the ticket's TicketReceived (another topic): the platform parks
            # the event and replays it when the customer's number arrives.
            raise NotYet(row.ticket_no, f"{name} before TicketReceived: no customer number yet")
        await record(
            uow,
            source_event_id,
            name,
            row.msisdn,
            {"ticket_no": row.ticket_no, **values},
            ticket_no=row.ticket_no,
        )

    # --- refunds and surges ------------------------------------------------------------------
    async def on_refund_approved(self, event: RefundApproved, uow: UnitOfWork) -> None:
        row = await contact(uow, event.ticket_no)
        values = {"amount_yuan": domain.yuan(event.amount_fen)}
        await self._to_customer(uow, uow.event_id, row, "refund_approved", values)

    async def on_refund_paid(self, event: RefundPaid, uow: UnitOfWork) -> None:
        row = await contact(uow, event.ticket_no)
        values = {"amount_yuan": domain.yuan(event.amount_fen)}
        await self._to_customer(uow, uow.event_id, row, "refund_paid", values)

    async def on_surge_resolved(self, event: SurgeResolved, uow: UnitOfWork) -> None:
        """One coordinated message per customer, however many of the surge's tickets are
        theirs (it names their first complaint). A ticket whose customer is not known yet
        gets it when its TicketReceived arrives, unless that customer already had it."""
        tickets = sorted(set(event.tickets) | {event.ticket_no})
        for ticket_no in tickets:  # in one order, so two surges cannot lock each other out
            await uow.lock(ticket_no)
        rows = (
            await uow.session.scalars(
                select(TicketContact)
                .where(TicketContact.ticket_no.in_(tickets), TicketContact.msisdn.is_not(None))
                .order_by(TicketContact.ticket_no)
            )
        ).all()
        first_per_customer: dict[str, TicketContact] = {}
        for row in rows:
            assert row.msisdn is not None
            first_per_customer.setdefault(row.msisdn, row)
        values = {"resolution": event.resolution}
        for row in first_per_customer.values():
            await self._to_customer(uow, uow.event_id, row, "surge_resolved", values)
        for ticket_no in sorted(set(tickets) - {row.ticket_no for row in rows}):
            known = await uow.session.get(TicketContact, ticket_no)
            if known is not None and known.no_customer_reason is not None:
                await self._to_customer(uow, uow.event_id, known, "surge_resolved", values)
                continue
            # Its TicketReceived has not arrived: this event is replayed when it does (the
            # customers told now are not told again: one message per source and number).
            uow.defer(ticket_no, "surge_resolved before TicketReceived: no customer number yet")
