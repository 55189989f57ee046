"""Notify's CMPP 3.0 transport (around services/notify/cmpp) against the in-process ISMG peer
over TCP: long Chinese SMS, status reports, a customer's reply, a refused login, and the whole
service sending and mapping a survey answer over CMPP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import time

import pytest

from services.notify.app import create_app
from services.notify.cmpp import CmppClientConfig, SubmitResult
from services.notify.cmpp.peer import CmppPeer
from services.notify.settings import NotifySettings
from services.notify.sms.cmpp import CmppTransport
from services.notify.sms.transport import DeliveryReceipt, InboundSms, SendError
from shared.broker import Broker
from tests.builders import eventually, running, settings_for
from tests.conftest import DbTarget
from tests.integration.notify import events as ev
from tests.integration.notify.conftest import STAFF, under_test

SP, SECRET = "901234", "s3cret"
LONG = "【中国移动】您的投诉（投诉编码：GD20261122000123）已处理完毕。" * 4


@pytest.fixture
async def ismg() -> AsyncIterator[CmppPeer]:
    async with CmppPeer({SP: SECRET}) as peer:
        yield peer


def _config(peer: CmppPeer, secret: str = SECRET) -> CmppClientConfig:
    return CmppClientConfig(
        host="127.0.0.1",
        port=peer.port,
        source_addr=SP,
        secret=secret,
        src_id="1065710086",
        wait_connected_timeout=1.0,
        reconnect_initial_delay=0.05,
    )


class Inbox:
    def __init__(self) -> None:
        self.receipts: list[DeliveryReceipt] = []
        self.messages: list[InboundSms] = []

    async def receipt(self, r: DeliveryReceipt) -> None:
        self.receipts.append(r)

    async def message(self, m: InboundSms) -> None:
        self.messages.append(m)


async def test_cmpp_transport_sends_long_chinese_and_hears_reports_and_replies(
    ismg: CmppPeer,
) -> None:
    inbox = Inbox()
    transport = CmppTransport(_config(ismg), inbox.receipt, inbox.message)
    await transport.start()
    try:
        ids = await transport.send("+8613800138000", LONG)
        assert len(ids) > 1
        [message] = await asyncio.wait_for(ismg.wait_for_messages(1), 5)
        assert (message.dest, message.text) == ("8613800138000", LONG)
        assert [str(i) for i in message.msg_ids] == ids
        await eventually(lambda: _at_least(inbox.receipts, len(ids)))
        assert {r.provider_message_id for r in inbox.receipts} == set(ids)
        assert all(r.delivered for r in inbox.receipts)
        await ismg.inject_mo("8613800138000", "1")
        [reply] = await eventually(lambda: _at_least(inbox.messages, 1))
        assert (reply.source, reply.text) == ("8613800138000", "1")
    finally:
        await transport.stop()


async def _at_least(items: Sequence[object], n: int) -> Sequence[object] | None:
    return items if len(items) >= n else None


async def test_a_long_sms_refused_mid_message_reports_the_accepted_segment_not_retryable(
    ismg: CmppPeer,
) -> None:
    inbox = Inbox()
    transport = CmppTransport(_config(ismg), inbox.receipt, inbox.message)
    await transport.start()
    try:
        ismg.answer_next_submits(SubmitResult.OK, SubmitResult.BAD_DEST_TERMINAL_ID)
        with pytest.raises(SendError) as failed:
            await transport.send("+8613800138000", LONG)
        # One segment is on its way to the handset: re-sending the message (or the rest of
        # it segment by segment) could show the customer part of it twice.
        assert not failed.value.retryable and len(failed.value.accepted_ids) == 1
        assert ismg.submits_seen == 2 and ismg.messages == []
    finally:
        await transport.stop()


async def test_a_refused_cmpp_login_leaves_sends_retryable(ismg: CmppPeer) -> None:
    inbox = Inbox()
    transport = CmppTransport(_config(ismg, secret="wrong"), inbox.receipt, inbox.message)
    await transport.start()
    try:
        with pytest.raises(SendError) as failed:
            await transport.send("+8613800138000", "您好")
        assert failed.value.retryable and ismg.messages == []
    finally:
        await transport.stop()


async def test_the_service_sends_over_cmpp_and_maps_the_survey_answer(
    db_target: DbTarget, broker: Broker, ismg: CmppPeer
) -> None:
    settings: NotifySettings = settings_for(
        NotifySettings,
        db_target,
        broker.bootstrap,
        consumers_enabled=False,
        sinks_enabled=False,
        sms_transport="cmpp",
        cmpp_port=ismg.port,
        cmpp_sp_id=SP,
        cmpp_secret=SECRET,
        dispatch_interval_s=0.05,
        quiet_hours_start=time(0),
        quiet_hours_end=time(0),
    )
    app = create_app(settings)
    async with running(app) as (client, rt):
        notify = under_test(app, client, rt)
        await notify.apply(ev.received("CM-1"), ev.clocks("CM-1"), ev.status("CM-1", "resolved"))

        async def delivered() -> list[object] | None:
            r = await client.get("/v1/notifications", params={"ticket_no": "CM-1"}, headers=STAFF)
            items = r.json()["items"]
            done = all(n["status"] == "delivered" for n in items) and len(items) == 2
            return items if done else None

        await eventually(delivered, within=10)
        await ismg.inject_mo("8613800138000", "2")
        [answer] = await eventually(lambda: notify.outbox("SurveyReplied"))
        assert (answer["ticket_no"], answer["satisfied"]) == ("CM-1", False)
