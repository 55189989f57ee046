"""What the SMS gateway tells us: delivery receipts, and customers' replies to the survey."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select, update

from services.notify import domain
from services.notify.models import InboundMessage, TicketContact
from services.notify.recording import record
from services.notify.sms import parts
from services.notify.sms.transport import DeliveryReceipt, InboundSms
from shared.db import Database, UnitOfWork
from shared.events import SurveyReplied
from shared.phone import InvalidPhoneNumber, mask_msisdn, normalize_msisdn
from shared.scheduler import claim

log = logging.getLogger(__name__)


def sender_e164(source: str) -> str:
    """The sender as E.164, whether the gateway gives 8613800138000, +86... or 138..."""
    digits = source.strip()
    if digits.startswith("86") and len(digits) == 13:
        digits = "+" + digits
    return normalize_msisdn(digits)


class Inbound:
    """Applies what the gateway delivers; raises if it could not be stored, so the transport
    tells the gateway to deliver it again."""

    def __init__(self, db: Database, *, dedup_window_s: float = 3600.0) -> None:
        self.db = db
        self.dedup_window = timedelta(seconds=dedup_window_s)

    async def _seen(self, uow: UnitOfWork, sms: InboundSms) -> bool:
        """A message with this key was applied within the window (a re-delivery)."""
        if sms.key is None:
            return False
        since = sms.received_at - self.dedup_window
        found = await uow.session.scalar(
            select(InboundMessage.id)
            .where(InboundMessage.key == sms.key, InboundMessage.received_at >= since)
            .limit(1)
        )
        return found is not None

    async def _applied(
        self, uow: UnitOfWork, sms: InboundSms, msisdn: str, outcome: str, ticket_no: str
    ) -> InboundMessage:
        row = InboundMessage(
            key=sms.key or f"inbound:{msisdn}:{sms.received_at.isoformat()}",
            sender_masked=mask_msisdn(msisdn) or "",
            outcome=outcome,
            ticket_no=ticket_no,
            received_at=sms.received_at,
        )
        uow.session.add(row)
        await uow.session.flush()
        return row

    async def receipt(self, receipt: DeliveryReceipt) -> None:
        async with self.db.uow() as uow:
            await parts.apply_receipt(uow, receipt)
            await uow.commit()

    async def message(self, sms: InboundSms) -> None:
        """An answer ("1"/"2", "满意", "不满意", "一般", ...) closes the survey of the customer's
        latest resolved complaint; anything else, while a survey is open, gets a reply that
        says what to answer."""
        try:
            msisdn = sender_e164(sms.source)
        except InvalidPhoneNumber:
            log.warning("inbound SMS from an unusable number; ignored")
            return
        answer = domain.parse_survey_answer(sms.text)
        async with self.db.uow() as uow:
            if await self._seen(uow, sms):
                log.info("inbound SMS delivered again by the gateway; already applied")
                return
            row = await uow.session.scalar(
                select(TicketContact)
                .where(TicketContact.msisdn == msisdn, TicketContact.survey_open.is_(True))
                .order_by(TicketContact.resolved_at.desc(), TicketContact.ticket_no.desc())
                .limit(1)
            )
            if row is None:
                log.info("inbound SMS without an open survey; ignored")
                return
            if answer is None:
                # one reply per inbound message (a re-delivery was recognised above)
                applied = await self._applied(uow, sms, msisdn, "survey_unclear", row.ticket_no)
                source = f"inbound:{applied.id}"
                values = {"ticket_no": row.ticket_no}
                await record(uow, source, "survey_unclear", msisdn, values, ticket_no=row.ticket_no)
                await uow.commit()
                return
            close = (
                update(TicketContact)
                .where(
                    TicketContact.ticket_no == row.ticket_no, TicketContact.survey_open.is_(True)
                )
                .values(survey_open=False)
            )
            if not await claim(uow, close):  # another replica took this very answer
                return
            await self._applied(uow, sms, msisdn, "survey_reply", row.ticket_no)
            uow.publish(
                SurveyReplied(
                    ticket_no=row.ticket_no,
                    satisfied=answer.satisfied,
                    score=answer.score,
                    raw_reply=sms.text,
                    replied_at=sms.received_at,
                )
            )
            await uow.commit()
