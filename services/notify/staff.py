"""Internal e-mail use cases: SLA warnings and breaches to the handler department and the
supervisor, escalations, and the fixed progress notice to the complaining department."""

from __future__ import annotations

from services.notify import domain
from services.notify.models import TicketContact
from services.notify.policy import threshold_text, trigger_name
from services.notify.recording import contact, record
from services.notify.settings import NotifySettings
from shared.db import UnitOfWork, utcnow
from shared.events import ProgressNoticeDue, SlaBreached, SlaWarning, TicketEscalated


class StaffMail:
    """The department- and supervisor-facing handlers."""

    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings

    async def _to_staff(
        self,
        uow: UnitOfWork,
        name: str,
        recipients: list[str],
        values: dict[str, str],
    ) -> None:
        for address in dict.fromkeys(recipients):
            await record(uow, uow.event_id, name, address, values, ticket_no=values["ticket_no"])

    def _handler_and_supervisor(self, row: TicketContact, handler: str | None) -> list[str]:
        s = self.settings
        addresses = []
        if handler or row.handler_department:
            addresses.append(s.department_email(handler or row.handler_department or ""))
        if row.supervisor:
            addresses.append(s.staff_email(row.supervisor))
        return addresses or [s.ops_email]

    async def on_sla_warning(self, event: SlaWarning, uow: UnitOfWork) -> None:
        row = await contact(uow, event.ticket_no)
        handler = event.handler_department or row.handler_department
        values = {
            "ticket_no": event.ticket_no,
            "clock": domain.clock_name(event.clock),
            "due_at": domain.deadline_text(event.due_at, utcnow(), self.settings.timezone),
            "threshold": threshold_text(event.threshold),
            "handler_department": self.settings.department_name(handler),
        }
        recipients = self._handler_and_supervisor(row, handler)
        await self._to_staff(uow, "sla_warning", recipients, values)

    async def on_sla_breached(self, event: SlaBreached, uow: UnitOfWork) -> None:
        row = await contact(uow, event.ticket_no)
        handler = event.handler_department or row.handler_department
        values = {
            "ticket_no": event.ticket_no,
            "clock": domain.clock_name(event.clock),
            "due_at": domain.deadline_text(event.due_at, utcnow(), self.settings.timezone),
            "handler_department": self.settings.department_name(handler),
        }
        recipients = self._handler_and_supervisor(row, handler)
        await self._to_staff(uow, "sla_breached", recipients, values)

    async def on_ticket_escalated(self, event: TicketEscalated, uow: UnitOfWork) -> None:
        row = await contact(uow, event.ticket_no)
        row.supervisor, row.handler_department = event.supervisor, event.handler_department
        if event.cluster_id:
            return  # the cluster's one digest (StaffAlertRaised) told them, not one per ticket
        values = {
            "ticket_no": event.ticket_no,
            "supervisor": event.supervisor,
            "trigger": trigger_name(event.trigger),
            "reason": event.reason,
            "handler_department": self.settings.department_name(event.handler_department),
            "escalated_at": domain.local_time_text(event.escalated_at, self.settings.timezone),
        }
        recipients = self._handler_and_supervisor(row, event.handler_department)
        await self._to_staff(uow, "ticket_escalated", recipients, values)

    async def on_progress_notice_due(self, event: ProgressNoticeDue, uow: UnitOfWork) -> None:
        """The fixed progress template to the complaining (owner) department."""
        values = {
            "ticket_no": event.ticket_no,
            "owner_department": self.settings.department_name(event.owner_department),
            "handler_department": self.settings.department_name(event.handler_department),
            "days_open": str(event.days_open),
            "due_at": domain.local_time_text(event.due_at, self.settings.timezone),
            "latest": "\n".join(
                f"· {domain.local_time_text(e.at, self.settings.timezone)} {e.author}：{e.text}"
                for e in event.latest
            )
            or "（暂无新的处理记录）",
            "resolution": event.resolution or "详见投诉记录",
        }
        recipients = [self.settings.department_email(event.owner_department)]
        name = "progress_final" if event.final else "progress_notice"
        if not event.final:
            values.pop("resolution")
        await self._to_staff(uow, name, recipients, values)
