"""The SMPP transport against a real SMSC peer over TCP (smpp34's server): Chinese long SMS
split with concatenation headers and reassembled at the peer, receipts, inbound replies,
windowed submits, and rebinding after the SMSC drops the session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from services.notify.sms.sink import SmppSink
from services.notify.sms.smpp import SmppConfig, SmppTransport
from services.notify.sms.transport import DeliveryReceipt, InboundSms
from shared.broker import free_port
from tests.builders import eventually

LONG = (
    "尊敬的客户，您好！"
    + "您反映的家中信号弱问题，网络维护部门已完成现场测试并调整了基站参数。" * 5
)


class Inbox:
    def __init__(self) -> None:
        self.receipts: list[DeliveryReceipt] = []
        self.messages: list[InboundSms] = []

    async def receipt(self, r: DeliveryReceipt) -> None:
        self.receipts.append(r)

    async def message(self, m: InboundSms) -> None:
        self.messages.append(m)


@pytest.fixture
async def peer() -> AsyncIterator[SmppSink]:
    sink = SmppSink(port=free_port(), receipt_delay_s=0.01)
    await sink.start()
    yield sink
    await sink.stop()


def _config(port: int, **kw: float) -> SmppConfig:
    return SmppConfig("127.0.0.1", port, "notify", "secret", reconnect_initial_s=0.05, **kw)  # type: ignore[arg-type]


async def test_a_long_chinese_sms_is_split_with_udh_and_reassembles_at_the_peer(
    peer: SmppSink,
) -> None:
    inbox = Inbox()
    transport = SmppTransport(_config(peer.port), inbox.receipt, inbox.message)
    await transport.start()
    try:
        ids = await transport.send("+8613800138000", LONG)
        assert len(LONG) == 179 and len(ids) == 3  # 67 + 67 + 45 UCS-2 characters
        headers, texts = [], []
        for pdu in peer.pdus:
            assert (pdu.esm_class, pdu.data_coding, pdu.registered_delivery) == (0x40, 8, 1)
            assert pdu.destination == "8613800138000" and pdu.source == "10086"
            assert len(pdu.short_message) <= 140
            headers.append(pdu.short_message[:6])
            texts.append(pdu.short_message[6:].decode("utf-16-be"))
        ref = headers[0][3]
        assert headers == [bytes([5, 0, 3, ref, 3, seq]) for seq in (1, 2, 3)]
        assert "".join(texts) == LONG and peer.messages == [("8613800138000", LONG)]
        receipts = await eventually(lambda: _receipts(inbox, 3))
        assert {r.provider_message_id for r in receipts} == set(ids)
        assert all(r.delivered and r.stat == "DELIVRD" for r in receipts)

        await peer.send_mo("8613800138000", "满意，1")
        [reply] = await eventually(lambda: _messages(inbox))
        assert (reply.source, reply.text) == ("8613800138000", "满意，1")
    finally:
        await transport.stop()


async def _receipts(inbox: Inbox, n: int) -> list[DeliveryReceipt] | None:
    return inbox.receipts if len(inbox.receipts) >= n else None


async def _messages(inbox: Inbox) -> list[InboundSms]:
    return inbox.messages


async def test_windowed_submits_keep_several_in_flight_and_all_complete(peer: SmppSink) -> None:
    inbox = Inbox()
    transport = SmppTransport(_config(peer.port, window=8), inbox.receipt, inbox.message)
    await transport.start()
    try:
        sends = [transport.send(f"+86138001380{i:02d}", f"第{i}条：您好") for i in range(40)]
        ids = await asyncio.gather(*sends)
        assert len({i for [i] in ids}) == 40 and len(peer.pdus) == 40
    finally:
        await transport.stop()


async def test_the_transport_binds_late_and_rebinds_when_the_smsc_drops_it() -> None:
    inbox = Inbox()
    port = free_port()
    transport = SmppTransport(_config(port), inbox.receipt, inbox.message)
    await transport.start()  # nothing listens yet: it keeps retrying with backoff
    await asyncio.sleep(0.3)
    assert transport.binds == 0
    peer = SmppSink(port=port, receipt_delay_s=None)
    await peer.start()
    try:
        assert await transport.wait_bound(5)
        await asyncio.wait_for(peer.bound.wait(), 5)  # the SMSC's side has seen the bind too
        await peer.drop_sessions()  # the SMSC restarts its side
        await eventually(lambda: _bound_again(transport))
        assert await transport.send("+8613800138000", "重连后发送")
        assert peer.messages[-1] == ("8613800138000", "重连后发送")
    finally:
        await transport.stop()
        await peer.stop()


async def _bound_again(transport: SmppTransport) -> bool:
    return transport.binds >= 2 and await transport.wait_bound(0.01)
