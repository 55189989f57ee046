"""What the SMS gateway tells us: delivery receipts, and customers' replies to the survey."""

from __future__ import annotations

import logging

from sqlalchemy import select, update

from services.notify import domain
from services.notify.models import TicketContact
from services.notify.recording import record
from services.notify.sms import parts
from services.notify.sms.transport import DeliveryReceipt, InboundSms
from shared.db import Database
from shared.events import SurveyReplied
from shared.phone import InvalidPhoneNumber, normalize_msisdn
from shared.scheduler import claim

log = logging.getLogger(__name__)


def sender_e164(source: str) -> str:
    """The sender as E.164, whether the gateway gives 8613800138000, +86... or 138..."""
    digits = source.strip()
    if digits.startswith("86") and len(digits) == 13:
        digits = "+" + digits
    return normalize_msisdn(digits)


class Inbound:
    def __init__(self, db: Database) -> None:
        self.db = db

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
                # one reply per inbound message: the key is the sender and the gateway's time
                source = f"inbound:{msisdn}:{sms.received_at.isoformat()}"
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
