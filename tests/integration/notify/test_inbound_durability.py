"""What the SMSC delivers (customers' replies, receipts) is answered only once it is stored:
a failed write makes the SMSC (the smpp34 peer) deliver it again, and a re-delivery of what
was already applied changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError

from services.notify.models import InboundMessage, Notification, TicketContact
from services.notify.sms.esme import ESME_ROK, ESME_RX_T_APPN
from services.notify.sms.sink import SmppSink
from shared.db import Database
from tests.builders import eventually
from tests.integration.notify import events as ev
from tests.integration.notify.conftest import NotifyFactory, NotifyUnderTest


@contextmanager
def first_write_fails(db: Database, write: str) -> Iterator[list[str]]:
    """The database refuses the first statement starting with `write` (e.g. "INSERT INTO
    inbound_message"): a disk or connection fault at the worst moment."""
    failed: list[str] = []

    def refuse(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not failed and statement.lstrip().upper().startswith(write.upper()):
            failed.append(statement)
            raise OperationalError(statement, None, Exception("injected: disk I/O error"))

    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", refuse)
    try:
        yield failed
    finally:
        event.remove(engine, "before_cursor_execute", refuse)


async def _survey_open(notify: NotifyUnderTest, ticket_no: str) -> bool:
    async with notify.rt.db.sessions() as s:
        row = await s.get(TicketContact, ticket_no)
        return bool(row and row.survey_open)


async def _count(notify: NotifyUnderTest, model: Any, *where: Any) -> int:
    async with notify.rt.db.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_a_survey_reply_whose_write_fails_is_delivered_again_and_stored_once(
    notify_app: NotifyFactory, smsc: SmppSink
) -> None:
    async with notify_app() as notify:
        await notify.apply(ev.received("IN-1"), ev.status("IN-1", "resolved", at=ev.NOW))
        assert await _survey_open(notify, "IN-1")
        with first_write_fails(notify.rt.db, "INSERT INTO inbound_message") as failed:
            await smsc.send_mo("8613800138000", "满意")
        # The first delivery was refused (its write failed), the SMSC's second one taken.
        assert failed and smsc.mo_answers == [ESME_RX_T_APPN, ESME_ROK]
        [reply] = await notify.outbox("SurveyReplied")
        assert (reply["ticket_no"], reply["satisfied"], reply["raw_reply"]) == (
            "IN-1",
            True,
            "满意",
        )
        assert not await _survey_open(notify, "IN-1")
        assert await _count(notify, InboundMessage) == 1


async def test_a_redelivered_reply_is_applied_once_and_does_not_answer_another_survey(
    notify_app: NotifyFactory, smsc: SmppSink
) -> None:
    async with notify_app(sms_rate_limit_count=20) as notify:
        await notify.apply(
            ev.received("IN-2"),
            ev.received("IN-3"),
            ev.status("IN-2", "resolved", at=ev.NOW.replace(hour=1)),
            ev.status("IN-3", "resolved", at=ev.NOW),
        )
        # The SMSC did not get our answer and delivers the same "1" again.
        await smsc.send_mo("8613800138000", "1")
        await smsc.send_mo("8613800138000", "1")
        assert smsc.mo_answers == [ESME_ROK, ESME_ROK]
        replies = await notify.outbox("SurveyReplied")
        assert [(r["ticket_no"], r["satisfied"]) for r in replies] == [("IN-3", True)]
        assert await _survey_open(notify, "IN-2")  # the earlier ticket's survey is still open

        # An unclear reply delivered twice gets one explanation, not two.
        await smsc.send_mo("8613800138000", "你们什么时候来修")
        await smsc.send_mo("8613800138000", "你们什么时候来修")
        unclear = Notification.template == "survey_unclear"
        assert await eventually(lambda: _count(notify, Notification, unclear)) == 1
        await notify.tick()
        assert await _count(notify, Notification, unclear) == 1
        assert await _count(notify, InboundMessage) == 2


async def test_a_delivery_receipt_whose_write_fails_is_delivered_again_and_applied(
    notify_app: NotifyFactory, smsc: SmppSink
) -> None:
    smsc.receipt_delay_s = 0.5  # the receipt comes after the submit was recorded
    async with notify_app() as notify:
        # Only a receipt updates a recorded segment: its first write fails.
        with first_write_fails(notify.rt.db, "UPDATE sms_part") as failed:
            await notify.apply(ev.received("IN-4"), ev.clocks("IN-4"))

            async def delivered() -> bool:
                items = await notify.notifications("IN-4")
                return bool(items) and items[0]["status"] == "delivered"

            assert await eventually(delivered)
        # One receipt per segment was taken; the one whose write failed, after a second try.
        answers = smsc.receipt_answers
        assert failed and answers.count(ESME_RX_T_APPN) == 1
        assert answers.count(ESME_ROK) == len(smsc.pdus) and answers[-1] == ESME_ROK
