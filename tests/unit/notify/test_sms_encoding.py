"""SMS on the wire: UCS-2 segmenting with concatenation headers, reassembly, receipts."""

from __future__ import annotations

from services.notify.sms.encoding import Reassembler, segments, split_udh
from services.notify.sms.receipts import (
    TLV_MESSAGE_STATE,
    TLV_RECEIPTED_MESSAGE_ID,
    parse_receipt,
    receipt_text,
)


def test_seventy_chinese_characters_fit_one_sms() -> None:
    [one] = segments("投" * 70, 9)
    assert (one.data_coding, one.esm_class, len(one.short_message)) == (8, 0, 140)


def test_seventy_one_need_two_segments_of_at_most_67() -> None:
    parts = segments("诉" * 71, 300)
    assert [len(p.short_message) for p in parts] == [140, 14]
    assert [p.short_message[:6] for p in parts] == [bytes([5, 0, 3, 44, 2, s]) for s in (1, 2)]
    assert all(p.esm_class == 0x40 and p.data_coding == 8 for p in parts)


def test_a_character_outside_the_bmp_is_never_split() -> None:
    text = "好" * 66 + "😀" + "好" * 5
    parts = segments(text, 1)
    payloads = [split_udh(p.esm_class, p.short_message)[1] for p in parts]
    assert [len(p) for p in payloads] == [132, 14]  # the emoji's surrogate pair moved on whole
    assert "".join(p.decode("utf-16-be") for p in payloads) == text


def test_ascii_goes_as_the_default_alphabet() -> None:
    assert segments("Reply 1 or 2", 1)[0].data_coding == 0
    assert [len(p.short_message) for p in segments("x" * 161, 1)] == [159, 14]


def test_the_peer_reassembles_out_of_order_segments() -> None:
    text = "您的投诉已处理完毕，" * 20
    parts = segments(text, 77)
    peer = Reassembler()
    outputs = [
        peer.add("8613800138000", p.esm_class, p.data_coding, p.short_message)
        for p in reversed(parts)
    ]
    assert outputs[:-1] == [None] * (len(parts) - 1) and outputs[-1] == text


def test_receipts_from_tlvs_or_from_text() -> None:
    text = receipt_text("abc123", "UNDELIV", err="001")
    r = parse_receipt(text)
    assert r is not None and (r.provider_message_id, r.stat, r.delivered) == (
        "abc123",
        "UNDELIV",
        False,
    )
    tlvs = {TLV_RECEIPTED_MESSAGE_ID: b"xyz\x00", TLV_MESSAGE_STATE: bytes([2])}
    r = parse_receipt("id:ignored stat:ENROUTE", tlvs)
    assert r is not None and (r.provider_message_id, r.stat, r.delivered) == (
        "xyz",
        "DELIVRD",
        True,
    )
    pending = parse_receipt("id:q1 stat:ENROUTE")
    assert pending is not None and pending.delivered is None
    assert parse_receipt("no id here") is None
