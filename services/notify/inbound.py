"""What the SMS gateway tells us: delivery receipts, and customers' replies to the survey."""

from __future__ import annotations

import logging

from sqlalchemy import select, update

from services.notify import domain
from services.notify.models import TicketContact
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
        """A "1"/"2" answers the customer's latest resolved complaint with an open survey."""
        satisfied = domain.parse_survey_reply(sms.text)
        if satisfied is None:
            log.info("inbound SMS is no survey answer; ignored")
            return
        try:
            msisdn = sender_e164(sms.source)
        except InvalidPhoneNumber:
            log.warning("inbound SMS from an unusable number; ignored")
            return
        async with self.db.uow() as uow:
            row = await uow.session.scalar(
                select(TicketContact)
                .where(TicketContact.msisdn == msisdn, TicketContact.survey_open.is_(True))
                .order_by(TicketContact.resolved_at.desc(), TicketContact.ticket_no.desc())
                .limit(1)
            )
            if row is None:
                log.info("survey answer without an open survey; ignored")
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
                    satisfied=satisfied,
                    raw_reply=sms.text,
                    replied_at=sms.received_at,
                )
            )
            await uow.commit()
