"""CMPP client against the in-process gateway over real TCP on 127.0.0.1: authentication,
short and long Chinese SMS, gateway error codes, reports, customer replies, keep-alive and
reconnects."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.notify.cmpp import (
    CmppAuthError,
    CmppClient,
    CmppClientConfig,
    CmppConnectionError,
    CmppSubmitError,
    ConnectStatus,
    MsgFmt,
    SubmitResult,
)
from services.notify.cmpp.peer import CmppPeer
from tests.builders import eventually

SP = "901234"
SECRET = "s3cret"
MSISDN = "8613800138000"
REGISTERED = "您的投诉已登记，投诉编码 GD2024030500012，我们将在24小时内联系您。"
SURVEY = (
    "尊敬的客户：您反映的话费争议问题（投诉编码 GD2024030500012）已处理完毕，"
    "多收的 30.00 元已退回您的话费账户。请对本次处理进行评价：满意请回复1，"
    "不满意请回复2。如仍有疑问，请拨打10086客服热线或前往就近营业厅咨询，"
    "我们将竭诚为您服务。感谢您对中国移动工作的理解与支持！中国移动"
)


class Inbox:
    """Collects what the client's callbacks receive."""

    def __init__(self) -> None:
        self.reports: asyncio.Queue[tuple[int, str, str]] = asyncio.Queue()
        self.messages: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

    async def on_report(self, msg_id: int, stat: str, dest: str) -> None:
        await self.reports.put((msg_id, stat, dest))

    def on_message(self, src: str, text: str) -> None:
        self.messages.put_nowait((src, text))


def config_for(peer: CmppPeer, **overrides: Any) -> CmppClientConfig:
    base = CmppClientConfig(
        host="127.0.0.1",
        port=peer.port,
        source_addr=SP,
        secret=SECRET,
        src_id="1065710086",
        service_id="MCS",
        response_timeout=2.0,
        connect_timeout=2.0,
        wait_connected_timeout=2.0,
        reconnect_initial_delay=0.02,
        reconnect_max_delay=0.2,
        flow_control_delay=0.01,
        close_timeout=1.0,
    )
    return dataclasses.replace(base, **overrides)


@pytest.fixture
async def peer() -> AsyncIterator[CmppPeer]:
    async with CmppPeer({SP: SECRET}) as gateway:
        yield gateway


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
async def client(peer: CmppPeer, inbox: Inbox) -> AsyncIterator[CmppClient]:
    sp = CmppClient(config_for(peer), on_report=inbox.on_report, on_message=inbox.on_message)
    async with sp:
        yield sp


async def test_sp_with_the_right_secret_is_connected(client: CmppClient, peer: CmppPeer) -> None:
    assert client.connected
    assert peer.connects == [(SP, ConnectStatus.OK)]


async def test_wrong_secret_is_refused_with_status_3(peer: CmppPeer) -> None:
    sp = CmppClient(config_for(peer, secret="guess"))

    with pytest.raises(CmppAuthError) as refused:
        await sp.start()

    assert refused.value.code == 3 and refused.value.status is ConnectStatus.AUTH_FAILED
    assert "认证错" in str(refused.value)
    assert peer.connects == [(SP, 3)] and peer.session_count == 0


async def test_unknown_sp_is_refused_with_status_2(peer: CmppPeer) -> None:
    with pytest.raises(CmppAuthError) as refused:
        await CmppClient(config_for(peer, source_addr="999999")).start()

    assert refused.value.status is ConnectStatus.BAD_SOURCE_ADDR


async def test_short_chinese_sms_arrives_as_one_ucs2_message(
    client: CmppClient, peer: CmppPeer
) -> None:
    msg_ids = await client.submit(MSISDN, REGISTERED)

    [received] = await peer.wait_for_messages(1)
    assert len(msg_ids) == 1
    assert (received.dest, received.text, received.msg_ids) == (MSISDN, REGISTERED, (msg_ids[0],))
    assert (received.msg_fmt, received.src_id, received.service_id) == (8, "1065710086", "MCS")
    assert received.registered_delivery


async def test_long_chinese_sms_is_split_and_reassembled_at_the_gateway(
    client: CmppClient, peer: CmppPeer
) -> None:
    assert len(SURVEY) > 134

    msg_ids = await client.submit(MSISDN, SURVEY)

    [received] = await peer.wait_for_messages(1)
    assert received.text == SURVEY
    assert len(msg_ids) == 3 and received.msg_ids == tuple(msg_ids)
    assert [(s.pk_total, s.pk_number, s.tp_udhi) for s in peer.submits] == [
        (3, 1, 1),
        (3, 2, 1),
        (3, 3, 1),
    ]
    assert all(len(s.msg_content) <= 140 for s in peer.submits)


async def test_a_long_message_whose_middle_segment_is_refused_sends_no_later_segment(
    client: CmppClient, peer: CmppPeer
) -> None:
    peer.answer_next_submits(SubmitResult.OK, SubmitResult.BAD_SERVICE_ID)

    with pytest.raises(CmppSubmitError) as refused:
        await client.submit(MSISDN, SURVEY)

    # Segment 1 was taken, segment 2 refused: segment 3 never went out, and the error
    # names the one accepted segment (the caller records it and sends nothing again).
    assert refused.value.result is SubmitResult.BAD_SERVICE_ID
    assert peer.submits_seen == 2 and len(refused.value.msg_ids) == 1
    assert [(s.pk_total, s.pk_number) for s in peer.submits] == [(3, 1)]
    assert peer.messages == []


async def test_a_segment_refused_for_flow_control_is_retried_before_the_next_goes_out(
    client: CmppClient, peer: CmppPeer
) -> None:
    peer.answer_next_submits(SubmitResult.OK, SubmitResult.FLOW_CONTROL)

    msg_ids = await client.submit(MSISDN, SURVEY)

    [received] = await peer.wait_for_messages(1)
    assert received.text == SURVEY and received.msg_ids == tuple(msg_ids)
    # Each segment was accepted once, in order; only the refused (not taken) one twice.
    assert [s.pk_number for s in peer.submits] == [1, 2, 3] and peer.submits_seen == 4


async def test_gateway_result_code_is_surfaced(client: CmppClient, peer: CmppPeer) -> None:
    peer.fail_next_submits(SubmitResult.BAD_SERVICE_ID)

    with pytest.raises(CmppSubmitError) as refused:
        await client.submit(MSISDN, REGISTERED)

    assert refused.value.code == 7 and refused.value.result is SubmitResult.BAD_SERVICE_ID
    assert "业务代码错" in str(refused.value)
    assert peer.messages == []
    assert len(await client.submit(MSISDN, REGISTERED)) == 1  # the link is still usable


async def test_flow_control_is_retried_with_backoff(client: CmppClient, peer: CmppPeer) -> None:
    peer.fail_next_submits(SubmitResult.FLOW_CONTROL, count=2)

    msg_ids = await client.submit(MSISDN, REGISTERED)

    assert len(msg_ids) == 1 and len(peer.messages) == 1


async def test_rate_limited_gateway_answers_flow_control(peer: CmppPeer) -> None:
    peer.max_submits_per_second = 1
    async with CmppClient(config_for(peer, flow_control_retries=0)) as sp:
        await sp.submit(MSISDN, "1")
        with pytest.raises(CmppSubmitError) as refused:
            await sp.submit(MSISDN, "2")

    assert refused.value.result is SubmitResult.FLOW_CONTROL


async def test_window_caps_outstanding_submits(peer: CmppPeer) -> None:
    peer.submit_delay = 0.02
    async with CmppClient(config_for(peer, window=4)) as sp:
        results = await asyncio.gather(*(sp.submit(MSISDN, f"n{i}") for i in range(12)))

    assert len({ids[0] for ids in results}) == 12
    assert peer.max_outstanding == 4


async def test_delivery_report_reaches_on_report(
    client: CmppClient, peer: CmppPeer, inbox: Inbox
) -> None:
    [msg_id] = await client.submit(MSISDN, REGISTERED)

    async with asyncio.timeout(2):
        report = await inbox.reports.get()

    assert report == (msg_id, "DELIVRD", MSISDN)
    await eventually(lambda: _true(peer.deliver_results), within=2, interval=0.01)
    assert peer.deliver_results[0][1] == 0


async def test_undelivered_report_sent_on_request(peer: CmppPeer, inbox: Inbox) -> None:
    peer.auto_report = False
    async with CmppClient(config_for(peer), on_report=inbox.on_report) as sp:
        [msg_id] = await sp.submit(MSISDN, REGISTERED)
        result = await peer.send_report(msg_id, "UNDELIV")

    assert result == 0
    assert inbox.reports.get_nowait() == (msg_id, "UNDELIV", MSISDN)


async def test_customer_reply_1_reaches_on_message(
    client: CmppClient, peer: CmppPeer, inbox: Inbox
) -> None:
    results = await peer.inject_mo(MSISDN, "1")

    assert results == [0]
    assert inbox.messages.get_nowait() == (MSISDN, "1")


async def test_long_chinese_reply_is_reassembled_by_the_client(
    client: CmppClient, peer: CmppPeer, inbox: Inbox
) -> None:
    reply = "不满意。" * 40

    results = await peer.inject_mo(MSISDN, reply)

    assert results == [0, 0, 0]
    assert inbox.messages.get_nowait() == (MSISDN, reply)
    assert inbox.messages.empty()


async def test_failing_callback_is_answered_with_a_non_zero_result(peer: CmppPeer) -> None:
    def broken(src: str, text: str) -> None:
        raise RuntimeError("database down")

    async with CmppClient(config_for(peer), on_message=broken):
        assert await peer.inject_mo(MSISDN, "2") == [9]


async def test_active_test_is_answered_in_both_directions(
    client: CmppClient, peer: CmppPeer
) -> None:
    await client.active_test()
    await peer.active_test()

    assert peer.active_tests_received == 1


async def test_keep_alive_sends_active_tests(peer: CmppPeer) -> None:
    async with CmppClient(config_for(peer, active_test_interval=0.02)):
        await eventually(lambda: _true(peer.active_tests_received >= 3), within=2, interval=0.01)


async def test_silent_gateway_is_declared_dead_after_3_active_tests(peer: CmppPeer) -> None:
    peer.answer_active_test = False
    async with CmppClient(config_for(peer, active_test_interval=0.02)) as sp:
        await eventually(lambda: _true(sp.reconnects >= 1), within=3, interval=0.01)

    assert len(peer.connects) >= 2


async def test_client_reconnects_after_the_gateway_drops_the_link(
    client: CmppClient, peer: CmppPeer
) -> None:
    await peer.drop_connections()

    await eventually(lambda: _true(client.reconnects == 1), within=3, interval=0.01)

    assert await client.submit(MSISDN, "1")
    assert len(peer.connects) == 2


async def test_client_keeps_retrying_until_the_gateway_is_back(inbox: Inbox) -> None:
    first = CmppPeer({SP: SECRET})
    await first.start()
    sp = CmppClient(config_for(first, wait_connected_timeout=0.1))
    await sp.start()
    await first.stop()

    with pytest.raises(CmppConnectionError):
        await sp.submit(MSISDN, "1")
    await asyncio.sleep(0.3)  # several backoff rounds against a closed port

    async with CmppPeer({SP: SECRET}, port=first.port) as second:
        async with asyncio.timeout(3):
            await sp.wait_connected()
        assert await sp.submit(MSISDN, "1")
        await sp.close()
    assert sp.reconnects == 1 and len(second.messages) == 1


async def test_close_sends_terminate(peer: CmppPeer) -> None:
    sp = CmppClient(config_for(peer))
    await sp.start()
    await peer.wait_for_sessions(1)

    await sp.close()

    assert peer.terminates_received == 1
    await eventually(lambda: _true(peer.session_count == 0), within=2, interval=0.01)
    with pytest.raises(CmppConnectionError):
        await sp.submit(MSISDN, "1")


async def test_gateway_terminate_triggers_a_reconnect(client: CmppClient, peer: CmppPeer) -> None:
    await peer.terminate_sessions()

    await eventually(lambda: _true(client.reconnects == 1), within=3, interval=0.01)
    assert client.connected


async def test_ascii_text_goes_as_msg_fmt_0(client: CmppClient, peer: CmppPeer) -> None:
    await client.submit(MSISDN, "TD")

    [received] = await peer.wait_for_messages(1)
    assert (received.msg_fmt, received.text) == (MsgFmt.ASCII, "TD")


async def _true(value: object) -> object:
    return value
