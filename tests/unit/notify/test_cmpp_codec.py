"""CMPP 3.0 codec: exact byte layouts, round trips, Msg_Id, long-SMS split and reassembly,
and refusal of malformed PDUs."""

from __future__ import annotations

import asyncio
import hashlib
import struct
from datetime import datetime

import pytest

from services.notify.cmpp.codec import (
    MAX_PDU_LENGTH,
    ActiveTest,
    ActiveTestResp,
    CmppDecodeError,
    CmppEncodeError,
    CmppFramingError,
    Concat,
    Connect,
    ConnectResp,
    ConnectStatus,
    Deliver,
    DeliverResp,
    DeliveryReport,
    MsgFmt,
    MsgId,
    MsgIdGenerator,
    Pdu,
    Reassembler,
    SequenceIds,
    Submit,
    SubmitResp,
    SubmitResult,
    Terminate,
    TerminateResp,
    authenticator_ismg,
    choose_msg_fmt,
    decode_pdu,
    decode_text,
    describe,
    encode_pdu,
    parse_udh,
    read_frame,
    split_text,
)

WHEN = datetime(2024, 3, 5, 8, 9, 7)
SURVEY = (
    "您的投诉（编码 GD2024030500012）已处理完毕。满意请回复1，不满意请回复2。"
    "感谢您对中国移动的支持！"
)


def report() -> DeliveryReport:
    return DeliveryReport(0x1234, "DELIVRD", "2403050809", "2403050810", "8613800138000", 77)


def test_connect_has_the_exact_cmpp3_byte_layout() -> None:
    pdu = Connect.create("901234", "s3cret", WHEN)

    wire = encode_pdu(pdu, 0x11)

    md5 = hashlib.md5(b"901234" + b"\x00" * 9 + b"s3cret" + b"0305080907").digest()
    expected = (
        bytes.fromhex("000000270000000100000011")
        + b"901234"
        + md5
        + b"\x30"
        + (305080907).to_bytes(4, "big")
    )
    assert wire == expected
    assert len(wire) == 39


def test_connect_timestamp_keeps_leading_zeros_in_the_authenticator() -> None:
    pdu = Connect.create("901234", "s3cret", datetime(2024, 1, 2, 3, 4, 5))

    assert pdu.timestamp == 102030405
    digest = hashlib.md5(b"901234" + bytes(9) + b"s3cret" + b"0102030405").digest()
    assert pdu.authenticator_source == digest


def test_connect_resp_authenticator_covers_status_source_and_secret() -> None:
    source = Connect.create("901234", "s3cret", WHEN).authenticator_source

    expected = hashlib.md5(b"\x00\x00\x00\x00" + source + b"s3cret").digest()

    assert authenticator_ismg(0, source, "s3cret") == expected
    wire = encode_pdu(ConnectResp(0, expected), 0x11)
    assert wire == bytes.fromhex("00000021800000010000001100000000") + expected + b"\x30"


def test_submit_fields_sit_at_their_cmpp3_offsets() -> None:
    content = "您好".encode("utf-16-be")
    pdu = Submit(
        dest_terminal_ids=("8613800138000", "8613900139000"),
        msg_content=content,
        service_id="MCS",
        msg_src="901234",
        src_id="1065710086",
        link_id="L1",
    )

    wire = encode_pdu(pdu, 5)

    assert len(wire) == 12 + 151 + 2 * 32 + len(content)
    body = wire[12:]
    assert body[:8] == bytes(8)  # Msg_Id is filled by the gateway
    assert body[8:12] == bytes([1, 1, 1, 0])  # Pk_total, Pk_number, Registered, Msg_level
    assert body[12:22] == b"MCS".ljust(10, b"\x00")
    assert body[22] == 0 and body[23:55] == bytes(32)  # Fee_UserType, Fee_terminal_Id
    assert body[55:59] == bytes([0, 0, 0, MsgFmt.UCS2])  # fee type, TP_pId, TP_udhi, Msg_Fmt
    assert body[59:65] == b"901234"  # Msg_src
    assert body[65:67] == b"01" and body[67:73] == b"000000"  # FeeType, FeeCode
    assert body[73:107] == bytes(34)  # ValId_Time, At_Time
    assert body[107:128] == b"1065710086".ljust(21, b"\x00")
    assert body[128] == 2  # DestUsr_tl
    assert body[129:161] == b"8613800138000".ljust(32, b"\x00")
    assert body[193:195] == bytes([0, len(content)])  # Dest_terminal_type, Msg_Length
    assert body[195:199] == content
    assert body[-20:] == b"L1".ljust(20, b"\x00")


PDUS: list[Pdu] = [
    Connect.create("901234", "s3cret", WHEN),
    ConnectResp(3, bytes(range(16)), 0x30),
    Terminate(),
    TerminateResp(),
    ActiveTest(),
    ActiveTestResp(),
    Submit(("8613800138000",), b"hello", msg_fmt=MsgFmt.ASCII, src_id="10086"),
    Submit(
        ("8613800138000",) * 100,
        bytes(140),
        pk_total=3,
        pk_number=2,
        tp_udhi=1,
        fee_user_type=3,
        fee_terminal_id="8613800138000",
        valid_time="240306080907032+",
        at_time="240305090000032+",
        link_id="x" * 20,
    ),
    SubmitResp(0xFFFFFFFFFFFFFFFF, SubmitResult.FLOW_CONTROL),
    Deliver(42, "10086", "8613800138000", "满意".encode("utf-16-be"), msg_fmt=MsgFmt.UCS2),
    Deliver(43, "10086", "8613800138000", report().encode(), registered_delivery=1),
    DeliverResp(42, 0),
]


@pytest.mark.parametrize("pdu", PDUS, ids=lambda p: type(p).__name__)
def test_every_pdu_survives_a_round_trip(pdu: Pdu) -> None:
    assert decode_pdu(encode_pdu(pdu, 0xFFFFFFFF)) == (0xFFFFFFFF, pdu)


def test_status_report_is_71_octets_and_decodes_from_a_deliver() -> None:
    deliver = Deliver(43, "10086", "8613800138000", report().encode(), registered_delivery=1)

    _, decoded = decode_pdu(encode_pdu(deliver, 1))

    assert len(report().encode()) == 71
    assert isinstance(decoded, Deliver) and decoded.report() == report()


def test_msg_id_packs_time_gateway_and_sequence_into_64_bits() -> None:
    msg_id = MsgId(month=3, day=5, hour=8, minute=9, second=7, gateway_id=123456, sequence=42)

    value = msg_id.pack()

    expected = (((((3 << 5 | 5) << 5 | 8) << 6 | 9) << 6 | 7) << 22 | 123456) << 16 | 42
    assert value == expected
    assert MsgId.unpack(value) == msg_id


def test_msg_id_generator_stamps_the_clock_and_counts_per_gateway() -> None:
    generator = MsgIdGenerator(7, clock=lambda: WHEN)

    first, second = MsgId.unpack(generator.next()), MsgId.unpack(generator.next())

    assert (first.month, first.day, first.hour, first.minute, first.second) == (3, 5, 8, 9, 7)
    assert (first.gateway_id, first.sequence, second.sequence) == (7, 1, 2)


def test_msg_id_field_overflow_is_refused() -> None:
    with pytest.raises(CmppEncodeError):
        MsgId(13, 1, 0, 0, 0, 1 << 22, 0).pack()


def test_sequence_ids_wrap_around_to_one() -> None:
    seq = SequenceIds(last=0xFFFFFFFE)

    assert [seq.next(), seq.next(), seq.next()] == [0xFFFFFFFF, 1, 2]


def test_seventy_chinese_characters_fit_one_sms() -> None:
    segments = split_text("投" * 70, reference=1)

    assert len(segments) == 1 and not segments[0].udhi
    assert segments[0].content == ("投" * 70).encode("utf-16-be")


def test_long_chinese_message_is_split_into_67_character_segments() -> None:
    text = (SURVEY * 4)[:150]

    segments = split_text(text, reference=0x5A)

    assert [len(s.content) for s in segments] == [140, 140, 6 + 2 * 16]
    for number, segment in enumerate(segments, 1):
        assert segment.content[:6] == bytes([5, 0, 3, 0x5A, 3, number])
        assert (segment.udhi, segment.total, segment.number) == (True, 3, number)
    chunks = [s.content[6:].decode("utf-16-be") for s in segments]
    assert [len(c) for c in chunks] == [67, 67, 16] and "".join(chunks) == text


def test_segments_reassemble_in_any_arrival_order() -> None:
    text = SURVEY * 3
    segments = split_text(text, reference=9)
    parts: Reassembler[int] = Reassembler()

    results = []
    for segment in reversed(segments):
        concat, payload = parse_udh(segment.content)
        assert concat is not None
        results.append(parts.add("8613800138000", concat, payload, segment.number))

    assert results[:-1] == [None] * (len(segments) - 1)
    complete = results[-1]
    assert complete is not None
    assert [n for _, n in complete] == list(range(1, len(segments) + 1))
    assert decode_text(b"".join(p for p, _ in complete), MsgFmt.UCS2) == text
    assert parts.pending == 0


def test_incomplete_groups_expire() -> None:
    now = [0.0]
    parts: Reassembler[None] = Reassembler(ttl=10, clock=lambda: now[0])
    parts.add("a", Concat(1, 2, 1), b"x", None)

    now[0] = 11.0
    parts.add("b", Concat(1, 2, 1), b"y", None)

    assert parts.pending == 1


def test_a_surrogate_pair_is_never_cut_between_segments() -> None:
    text = "投" * 66 + "😀" + "诉" * 10

    segments = split_text(text, reference=1)

    first = segments[0].content[6:]
    assert len(first) == 132  # 66 chars: the emoji moves to the next segment whole
    joined = b"".join(s.content[6:] for s in segments)
    assert joined.decode("utf-16-be") == text


def test_plain_short_text_goes_ascii_and_everything_else_ucs2() -> None:
    assert choose_msg_fmt("1") == MsgFmt.ASCII
    assert choose_msg_fmt("a" * 161) == MsgFmt.UCS2
    assert choose_msg_fmt("满意") == MsgFmt.UCS2
    assert split_text("TD", reference=0) == split_text("TD", reference=0, msg_fmt=MsgFmt.ASCII)


def test_gbk_and_ucs2_replies_decode() -> None:
    assert decode_text("不满意".encode("gbk"), MsgFmt.GBK) == "不满意"
    assert decode_text("满意".encode("utf-16-be"), MsgFmt.UCS2) == "满意"
    with pytest.raises(CmppDecodeError):
        decode_text(b"\x01", MsgFmt.BINARY)


def test_status_codes_carry_chinese_and_english_text() -> None:
    assert describe(ConnectStatus.AUTH_FAILED, 3) == "3 认证错 (authentication failed)"
    assert ConnectStatus.of(17) is ConnectStatus.OTHER
    assert SubmitResult.of(8).zh == "流量控制错"
    assert SubmitResult.of(99) is SubmitResult.OTHER


def test_field_too_long_for_its_octets_is_refused() -> None:
    with pytest.raises(CmppEncodeError, match="Service_Id"):
        encode_pdu(Submit(("8613800138000",), b"x", service_id="X" * 11), 1)
    with pytest.raises(CmppEncodeError):
        encode_pdu(Submit((), b"x"), 1)
    with pytest.raises(CmppEncodeError):
        split_text("中" * 67 * 256, reference=1)


def _submit_wire() -> bytes:
    return encode_pdu(Submit(("8613800138000",), b"hi", msg_fmt=MsgFmt.ASCII), 1)


def _with_length(body: bytes, command: int = 4) -> bytes:
    return struct.pack(">III", 12 + len(body), command, 1) + body


@pytest.mark.parametrize(
    ("wire", "error"),
    [
        pytest.param(b"\x00\x00\x00", CmppFramingError, id="shorter-than-header"),
        pytest.param(_submit_wire()[:-1], CmppFramingError, id="truncated"),
        pytest.param(_submit_wire() + b"\x00", CmppFramingError, id="trailing-octet"),
        pytest.param(struct.pack(">III", 8, 8, 1), CmppFramingError, id="length-below-12"),
        pytest.param(_with_length(b"", 0x00000099), CmppDecodeError, id="unknown-command"),
        pytest.param(_with_length(b"\x00", 8), CmppDecodeError, id="active-test-with-body"),
        pytest.param(_with_length(bytes(26), 1), CmppDecodeError, id="short-connect"),
        pytest.param(_with_length(bytes(12), 0x80000001), CmppDecodeError, id="cmpp2-connect-resp"),
    ],
)
def test_malformed_pdus_are_refused(wire: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        decode_pdu(wire)


def test_submit_whose_msg_length_disagrees_with_its_size_is_refused() -> None:
    body = bytearray(_submit_wire()[12:])
    body[162] = 200  # Msg_Length claims far more content than present

    with pytest.raises(CmppDecodeError, match="Msg_Length"):
        decode_pdu(_with_length(bytes(body)))


def test_submit_without_destinations_is_refused() -> None:
    body = bytearray(_submit_wire()[12:])
    body[128] = 0  # DestUsr_tl

    with pytest.raises(CmppDecodeError, match="DestUsr_tl"):
        decode_pdu(_with_length(bytes(body)))


def test_status_report_of_the_wrong_size_is_refused() -> None:
    wrong = Deliver(1, "10086", "8613800138000", bytes(60), registered_delivery=1)

    with pytest.raises(CmppDecodeError, match="71"):
        decode_pdu(encode_pdu(wrong, 1))


def test_non_ascii_octet_string_is_refused() -> None:
    body = bytearray(Connect.create("901234", "s", WHEN).encode_body())
    body[0] = 0xE4

    with pytest.raises(CmppDecodeError, match="Source_Addr"):
        decode_pdu(_with_length(bytes(body), 1))


def test_udh_that_overruns_the_content_is_refused() -> None:
    with pytest.raises(CmppDecodeError):
        parse_udh(bytes([5, 0, 3, 1]))
    with pytest.raises(CmppDecodeError):
        parse_udh(bytes([5, 0, 3, 1, 2, 3]) + b"xx")  # part 3 of 2


async def test_stream_with_an_absurd_length_fails_at_once_instead_of_waiting() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(struct.pack(">III", MAX_PDU_LENGTH + 1, 4, 1))

    async with asyncio.timeout(1):
        with pytest.raises(CmppFramingError):
            await read_frame(reader)


async def test_stream_reader_yields_back_to_back_pdus() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(encode_pdu(ActiveTest(), 1) + encode_pdu(ActiveTestResp(), 2))
    reader.feed_eof()

    first, second = await read_frame(reader), await read_frame(reader)

    assert first.decode() == ActiveTest()
    assert (second.sequence_id, second.decode()) == (2, ActiveTestResp())
    with pytest.raises(asyncio.IncompleteReadError):
        await read_frame(reader)
