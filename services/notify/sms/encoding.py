"""SMS bodies on the wire: UCS-2 (data_coding 8) for Chinese, plain ASCII otherwise, long
messages split into segments with a concatenation UDH (IEI 0x00, 8-bit reference). No I/O.

A single UCS-2 SMS holds 70 characters (140 octets); a segment of a long one holds 67
(134 octets + the 6-octet UDH). A character outside the BMP takes two UTF-16 code units and
is never split across segments.
"""

from __future__ import annotations

from dataclasses import dataclass

DC_DEFAULT = 0x00
DC_UCS2 = 0x08
ESM_UDHI = 0x40
ESM_RECEIPT = 0x04
MAX_OCTETS = 140
UDH_LEN = 6


@dataclass(frozen=True)
class Segment:
    data_coding: int
    esm_class: int
    short_message: bytes


def _gsm_safe(text: str) -> bool:
    return all(0x20 <= ord(c) < 0x7F or c in "\n\r" for c in text)


def _utf16_units(text: str) -> list[bytes]:
    """Each character as its UTF-16BE bytes (2 or 4 octets), so splits keep pairs whole."""
    return [c.encode("utf-16-be") for c in text]


def _chunks(units: list[bytes], limit: int) -> list[bytes]:
    chunks: list[bytes] = []
    current = b""
    for unit in units:
        if len(current) + len(unit) > limit:
            chunks.append(current)
            current = b""
        current += unit
    if current or not chunks:
        chunks.append(current)
    return chunks


def segments(text: str, reference: int) -> list[Segment]:
    """Encode `text` into one or more submit_sm bodies (reference: 0-255, per message)."""
    if _gsm_safe(text):
        coding, units = DC_DEFAULT, [c.encode("ascii") for c in text]
        single, part = 160, 153
    else:
        coding, units = DC_UCS2, _utf16_units(text)
        single, part = MAX_OCTETS, MAX_OCTETS - UDH_LEN
    if sum(len(u) for u in units) <= single:
        return [Segment(coding, 0, b"".join(units))]
    chunks = _chunks(units, part)
    total = len(chunks)
    if total > 255:
        raise ValueError("message too long for concatenated SMS")
    ref = reference & 0xFF
    return [
        Segment(coding, ESM_UDHI, bytes([5, 0, 3, ref, total, seq]) + chunk)
        for seq, chunk in enumerate(chunks, start=1)
    ]


@dataclass(frozen=True)
class Concatenation:
    reference: int
    total: int
    seq: int


def split_udh(esm_class: int, short_message: bytes) -> tuple[Concatenation | None, bytes]:
    """The concatenation info (8- or 16-bit reference) and the payload after the UDH."""
    if not esm_class & ESM_UDHI or not short_message:
        return None, short_message
    udhl = short_message[0]
    header, payload = short_message[1 : 1 + udhl], short_message[1 + udhl :]
    i = 0
    while i + 1 < len(header):
        iei, length = header[i], header[i + 1]
        value = header[i + 2 : i + 2 + length]
        if iei == 0x00 and length == 3:
            return Concatenation(value[0], value[1], value[2]), payload
        if iei == 0x08 and length == 4:
            return Concatenation((value[0] << 8) | value[1], value[2], value[3]), payload
        i += 2 + length
    return None, payload


def decode_text(data_coding: int, payload: bytes) -> str:
    """Text of an inbound or submitted body (UCS-2, Latin-1 or the default alphabet as ASCII)."""
    if data_coding == DC_UCS2:
        return payload.decode("utf-16-be", errors="replace")
    if data_coding == 0x03:
        return payload.decode("latin-1")
    return payload.decode("ascii", errors="replace")


class Reassembler:
    """Collects segments per (sender, reference) and yields whole texts (peer side)."""

    def __init__(self) -> None:
        self._parts: dict[tuple[str, int], dict[int, str]] = {}

    def add(self, key: str, esm_class: int, data_coding: int, short_message: bytes) -> str | None:
        concat, payload = split_udh(esm_class, short_message)
        text = decode_text(data_coding, payload)
        if concat is None:
            return text
        parts = self._parts.setdefault((key, concat.reference), {})
        parts[concat.seq] = text
        if len(parts) < concat.total:
            return None
        del self._parts[(key, concat.reference)]
        return "".join(parts[i] for i in sorted(parts))
