"""CMPP 3.0 wire codec: header framing, PDUs, Msg_Id, authenticators and status tables.

Integers are big-endian; fixed-length octet strings are ASCII, left-aligned and NUL padded.
Decoding is strict: a body whose length does not match its own fields is refused with
`CmppDecodeError`, and a Total_Length outside [12, MAX_PDU_LENGTH] with `CmppFramingError`
before any body is read, so a corrupt stream can never make a reader wait for gigabytes.
Text encoding (ASCII, UCS-2, GBK), long-message splitting with a 6-octet UDH and
reassembly are at the end of the module.
"""

from __future__ import annotations

import asyncio
import hashlib
import struct
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import IntEnum
from typing import Any, ClassVar, Generic, Self, TypeVar

VERSION = 0x30
HEADER = struct.Struct(">III")
HEADER_LENGTH = HEADER.size
MAX_DESTINATIONS = 100
CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")  # no DST in China since 1991
T = TypeVar("T")


class CmppError(Exception):
    """Base class of every CMPP error."""


class CmppDecodeError(CmppError):
    """Bytes received do not form a valid CMPP 3.0 PDU."""


class CmppFramingError(CmppDecodeError):
    """The header itself is unusable: the byte stream cannot be resynchronised."""


class CmppEncodeError(CmppError, ValueError):
    """A PDU field does not fit the CMPP 3.0 layout."""


class CommandId(IntEnum):
    CONNECT = 0x00000001
    CONNECT_RESP = 0x80000001
    TERMINATE = 0x00000002
    TERMINATE_RESP = 0x80000002
    SUBMIT = 0x00000004
    SUBMIT_RESP = 0x80000004
    DELIVER = 0x00000005
    DELIVER_RESP = 0x80000005
    ACTIVE_TEST = 0x00000008
    ACTIVE_TEST_RESP = 0x80000008


RESPONSE_BIT = 0x80000000


class MsgFmt(IntEnum):
    ASCII = 0
    WRITE_CARD = 3
    BINARY = 4
    UCS2 = 8
    GBK = 15


class ConnectStatus(IntEnum):
    """CMPP_CONNECT_RESP Status (4 octets in 3.0); 5 and above are "other errors"."""

    OK = 0
    BAD_STRUCTURE = 1
    BAD_SOURCE_ADDR = 2
    AUTH_FAILED = 3
    VERSION_TOO_HIGH = 4
    OTHER = 5

    @classmethod
    def of(cls, code: int) -> ConnectStatus:
        """The enum member for a raw code; unknown codes map to OTHER."""
        return cls(code) if 0 <= code < cls.OTHER else cls.OTHER

    @property
    def zh(self) -> str:
        return _CONNECT_TEXT[self][0]

    @property
    def en(self) -> str:
        return _CONNECT_TEXT[self][1]


_CONNECT_TEXT = {
    ConnectStatus.OK: ("正确", "ok"),
    ConnectStatus.BAD_STRUCTURE: ("消息结构错", "bad message structure"),
    ConnectStatus.BAD_SOURCE_ADDR: ("非法源地址", "illegal source address"),
    ConnectStatus.AUTH_FAILED: ("认证错", "authentication failed"),
    ConnectStatus.VERSION_TOO_HIGH: ("版本太高", "version too high"),
    ConnectStatus.OTHER: ("其他错误", "other error"),
}


class SubmitResult(IntEnum):
    """CMPP_SUBMIT_RESP Result. CMPP 3.0 defines 9-13; anything above is "other"."""

    OK = 0
    BAD_STRUCTURE = 1
    BAD_COMMAND = 2
    DUPLICATE_SEQUENCE = 3
    BAD_MSG_LENGTH = 4
    BAD_FEE_CODE = 5
    MSG_TOO_LONG = 6
    BAD_SERVICE_ID = 7
    FLOW_CONTROL = 8
    FEE_NUMBER_NOT_SERVED = 9
    BAD_SRC_ID = 10
    BAD_MSG_SRC = 11
    BAD_FEE_TERMINAL_ID = 12
    BAD_DEST_TERMINAL_ID = 13
    OTHER = 14

    @classmethod
    def of(cls, code: int) -> SubmitResult:
        """The enum member for a raw code; unknown codes map to OTHER."""
        return cls(code) if 0 <= code < cls.OTHER else cls.OTHER

    @property
    def zh(self) -> str:
        return _SUBMIT_TEXT[self][0]

    @property
    def en(self) -> str:
        return _SUBMIT_TEXT[self][1]


_SUBMIT_TEXT = {
    SubmitResult.OK: ("正确", "ok"),
    SubmitResult.BAD_STRUCTURE: ("消息结构错", "bad message structure"),
    SubmitResult.BAD_COMMAND: ("命令字错", "bad command id"),
    SubmitResult.DUPLICATE_SEQUENCE: ("消息序号重复", "duplicate sequence id"),
    SubmitResult.BAD_MSG_LENGTH: ("消息长度错", "bad message length"),
    SubmitResult.BAD_FEE_CODE: ("资费代码错", "bad fee code"),
    SubmitResult.MSG_TOO_LONG: ("超过最大信息长", "message too long"),
    SubmitResult.BAD_SERVICE_ID: ("业务代码错", "bad service id"),
    SubmitResult.FLOW_CONTROL: ("流量控制错", "flow control"),
    SubmitResult.FEE_NUMBER_NOT_SERVED: (
        "本网关不负责服务此计费号码",
        "gateway does not serve this fee number",
    ),
    SubmitResult.BAD_SRC_ID: ("Src_Id错误", "bad Src_Id"),
    SubmitResult.BAD_MSG_SRC: ("Msg_src错误", "bad Msg_src"),
    SubmitResult.BAD_FEE_TERMINAL_ID: ("Fee_terminal_Id错误", "bad Fee_terminal_Id"),
    SubmitResult.BAD_DEST_TERMINAL_ID: ("Dest_terminal_Id错误", "bad Dest_terminal_Id"),
    SubmitResult.OTHER: ("其他错误", "other error"),
}


class DeliverResult(IntEnum):
    """CMPP_DELIVER_RESP Result; 9 and above are "other errors"."""

    OK = 0
    BAD_STRUCTURE = 1
    BAD_COMMAND = 2
    DUPLICATE_SEQUENCE = 3
    BAD_MSG_LENGTH = 4
    BAD_FEE_CODE = 5
    MSG_TOO_LONG = 6
    BAD_SERVICE_ID = 7
    FLOW_CONTROL = 8
    OTHER = 9


def describe(status: ConnectStatus | SubmitResult, code: int) -> str:
    """Human text for a status code, e.g. '3 认证错 (authentication failed)'."""
    return f"{code} {status.zh} ({status.en})"


# --- time, authenticators and Msg_Id -------------------------------------------------


def china_now() -> datetime:
    """Wall-clock time in China, the time zone CMPP timestamps are written in."""
    return datetime.now(CHINA_TZ)


def connect_timestamp(when: datetime) -> int:
    """The CMPP_CONNECT Timestamp: MMDDHHMMSS as an unsigned integer."""
    return int(when.strftime("%m%d%H%M%S"))


def authenticator_source(source_addr: str, secret: str, timestamp: int) -> bytes:
    """MD5(Source_Addr + 9 zero octets + shared secret + timestamp as 10 digits)."""
    if not 0 <= timestamp <= 1231235959:
        raise CmppEncodeError(f"timestamp {timestamp} is not MMDDHHMMSS")
    data = source_addr.encode("ascii") + bytes(9) + secret.encode() + b"%010d" % timestamp
    return hashlib.md5(data).digest()


def authenticator_ismg(status: int, auth_source: bytes, secret: str) -> bytes:
    """MD5(Status as 4 octets + AuthenticatorSource + shared secret)."""
    return hashlib.md5(status.to_bytes(4, "big") + auth_source + secret.encode()).digest()


@dataclass(frozen=True, slots=True)
class MsgId:
    """The 64-bit Msg_Id: month 4, day 5, hour 5, minute 6, second 6, gateway 22, sequence 16."""

    month: int
    day: int
    hour: int
    minute: int
    second: int
    gateway_id: int
    sequence: int

    _BITS: ClassVar[tuple[tuple[str, int], ...]] = (
        ("month", 4),
        ("day", 5),
        ("hour", 5),
        ("minute", 6),
        ("second", 6),
        ("gateway_id", 22),
        ("sequence", 16),
    )

    def pack(self) -> int:
        """The Msg_Id as an unsigned 64-bit integer."""
        value = 0
        for name, bits in self._BITS:
            part = getattr(self, name)
            if not 0 <= part < 1 << bits:
                raise CmppEncodeError(f"Msg_Id {name}={part} does not fit {bits} bits")
            value = value << bits | part
        return value

    @classmethod
    def unpack(cls, value: int) -> MsgId:
        """Split a 64-bit Msg_Id into its fields."""
        if not 0 <= value < 1 << 64:
            raise CmppDecodeError(f"Msg_Id {value} is not an unsigned 64-bit integer")
        parts: dict[str, int] = {}
        for name, bits in reversed(cls._BITS):
            parts[name] = value & ((1 << bits) - 1)
            value >>= bits
        return cls(**parts)


@dataclass(slots=True)
class MsgIdGenerator:
    """Issues Msg_Ids the way an ISMG does: timestamp, gateway id, 16-bit wrapping sequence."""

    gateway_id: int
    clock: Callable[[], datetime] = china_now
    _sequence: int = field(default=0, repr=False)

    def next(self) -> int:
        now = self.clock()
        self._sequence = (self._sequence + 1) & 0xFFFF
        return MsgId(
            now.month, now.day, now.hour, now.minute, now.second, self.gateway_id, self._sequence
        ).pack()


@dataclass(slots=True)
class SequenceIds:
    """Sequence_Id source: 1 .. 2**32-1, then wraps back to 1 (0 is never issued)."""

    last: int = 0

    def next(self) -> int:
        self.last = self.last + 1 if self.last < 0xFFFFFFFF else 1
        return self.last


# --- field helpers --------------------------------------------------------------------


def _octets(value: str, size: int, name: str) -> bytes:
    if not value.isascii() or len(value) > size:
        raise CmppEncodeError(f"{name} must be at most {size} ASCII characters: {value!r}")
    return value.encode("ascii")


def _string(raw: bytes, name: str) -> str:
    value = raw.split(b"\x00", 1)[0]
    try:
        return value.decode("ascii")
    except UnicodeDecodeError:
        raise CmppDecodeError(f"{name} is not ASCII: {raw!r}") from None


def _unpack(layout: struct.Struct, body: bytes, name: str) -> tuple[Any, ...]:
    if len(body) != layout.size:
        raise CmppDecodeError(f"{name} body must be {layout.size} octets, got {len(body)}")
    return layout.unpack(body)


# --- PDUs ----------------------------------------------------------------------------


class Pdu:
    """A CMPP message body; the header is added by `encode_pdu`."""

    __slots__ = ()

    command: ClassVar[CommandId]

    def encode_body(self) -> bytes:
        raise NotImplementedError

    @classmethod
    def decode_body(cls, body: bytes) -> Self:
        raise NotImplementedError


class _EmptyPdu(Pdu):
    __slots__ = ()

    def encode_body(self) -> bytes:
        return b""

    @classmethod
    def decode_body(cls, body: bytes) -> Self:
        if body:
            raise CmppDecodeError(f"{cls.command.name} has no body, got {len(body)} octets")
        return cls()

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Terminate(_EmptyPdu):
    command = CommandId.TERMINATE


class TerminateResp(_EmptyPdu):
    command = CommandId.TERMINATE_RESP


class ActiveTest(_EmptyPdu):
    command = CommandId.ACTIVE_TEST


@dataclass(frozen=True, slots=True)
class ActiveTestResp(Pdu):
    command: ClassVar[CommandId] = CommandId.ACTIVE_TEST_RESP
    _layout: ClassVar[struct.Struct] = struct.Struct(">B")
    reserved: int = 0

    def encode_body(self) -> bytes:
        return self._layout.pack(self.reserved)

    @classmethod
    def decode_body(cls, body: bytes) -> Self:
        (reserved,) = _unpack(cls._layout, body, "CMPP_ACTIVE_TEST_RESP")
        return cls(int(reserved))


@dataclass(frozen=True, slots=True)
class Connect(Pdu):
    command: ClassVar[CommandId] = CommandId.CONNECT
    _layout: ClassVar[struct.Struct] = struct.Struct(">6s16sBI")
    source_addr: str
    authenticator_source: bytes
    timestamp: int
    version: int = VERSION

    @classmethod
    def create(cls, source_addr: str, secret: str, when: datetime) -> Connect:
        """A CONNECT authenticating `source_addr` with `secret` at time `when`."""
        ts = connect_timestamp(when)
        return cls(source_addr, authenticator_source(source_addr, secret, ts), ts)

    def encode_body(self) -> bytes:
        addr = _octets(self.source_addr, 6, "Source_Addr")
        if len(self.authenticator_source) != 16:
            raise CmppEncodeError("AuthenticatorSource must be 16 octets")
        return self._layout.pack(addr, self.authenticator_source, self.version, self.timestamp)

    @classmethod
    def decode_body(cls, body: bytes) -> Self:
        addr, auth, version, ts = _unpack(cls._layout, body, "CMPP_CONNECT")
        return cls(_string(addr, "Source_Addr"), auth, int(ts), int(version))


@dataclass(frozen=True, slots=True)
class ConnectResp(Pdu):
    command: ClassVar[CommandId] = CommandId.CONNECT_RESP
    _layout: ClassVar[struct.Struct] = struct.Struct(">I16sB")
    status: int
    authenticator_ismg: bytes = bytes(16)
    version: int = VERSION

    def encode_body(self) -> bytes:
        if len(self.authenticator_ismg) != 16:
            raise CmppEncodeError("AuthenticatorISMG must be 16 octets")
        return self._layout.pack(self.status, self.authenticator_ismg, self.version)

    @classmethod
    def decode_body(cls, body: bytes) -> Self:
        status, auth, version = _unpack(cls._layout, body, "CMPP_CONNECT_RESP")
        return cls(int(status), auth, int(version))


@dataclass(frozen=True, slots=True)
class SubmitResp(Pdu):
    command: ClassVar[CommandId] = CommandId.SUBMIT_RESP
    _layout: ClassVar[struct.Struct] = struct.Struct(">QI")
    msg_id: int
    result: int = SubmitResult.OK

    def encode_body(self) -> bytes:
        return self._layout.pack(self.msg_id, self.result)

    @classmethod
    def decode_body(cls, body: bytes) -> Self:
        msg_id, result = _unpack(cls._layout, body, cls.command.name)
        return cls(int(msg_id), int(result))


@dataclass(frozen=True, slots=True)
class DeliverResp(Pdu):
    command: ClassVar[CommandId] = CommandId.DELIVER_RESP
    _layout: ClassVar[struct.Struct] = struct.Struct(">QI")
    msg_id: int
    result: int = DeliverResult.OK

    def encode_body(self) -> bytes:
        return self._layout.pack(self.msg_id, self.result)

    @classmethod
    def decode_body(cls, body: bytes) -> Self:
        msg_id, result = _unpack(cls._layout, body, cls.command.name)
        return cls(int(msg_id), int(result))


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """The 71-octet status report carried in a DELIVER's Msg_Content."""

    _layout: ClassVar[struct.Struct] = struct.Struct(">Q7s10s10s32sI")
    msg_id: int
    stat: str
    submit_time: str = ""
    done_time: str = ""
    dest_terminal_id: str = ""
    smsc_sequence: int = 0

    def encode(self) -> bytes:
        return self._layout.pack(
            self.msg_id,
            _octets(self.stat, 7, "Stat"),
            _octets(self.submit_time, 10, "Submit_time"),
            _octets(self.done_time, 10, "Done_time"),
            _octets(self.dest_terminal_id, 32, "Dest_terminal_Id"),
            self.smsc_sequence,
        )

    @classmethod
    def decode(cls, data: bytes) -> DeliveryReport:
        msg_id, stat, submit, done, dest, seq = _unpack(cls._layout, data, "status report")
        return cls(
            msg_id,
            _string(stat, "Stat"),
            _string(submit, "Submit_time"),
            _string(done, "Done_time"),
            _string(dest, "Dest_terminal_Id"),
            seq,
        )


REPORT_LENGTH = DeliveryReport._layout.size


@dataclass(frozen=True, slots=True)
class Submit(Pdu):
    """CMPP_SUBMIT (SP -> ISMG). Msg_Id is 0 on the way in; the ISMG assigns it."""

    command: ClassVar[CommandId] = CommandId.SUBMIT
    _head: ClassVar[struct.Struct] = struct.Struct(">QBBBB10sB32sBBBB6s2s6s17s17s21sB")
    _tail: ClassVar[struct.Struct] = struct.Struct(">BB")
    dest_terminal_ids: tuple[str, ...]
    msg_content: bytes
    msg_fmt: int = MsgFmt.UCS2
    msg_id: int = 0
    pk_total: int = 1
    pk_number: int = 1
    registered_delivery: int = 1
    msg_level: int = 0
    service_id: str = ""
    fee_user_type: int = 0
    fee_terminal_id: str = ""
    fee_terminal_type: int = 0
    tp_pid: int = 0
    tp_udhi: int = 0
    msg_src: str = ""
    fee_type: str = "01"
    fee_code: str = "000000"
    valid_time: str = ""
    at_time: str = ""
    src_id: str = ""
    dest_terminal_type: int = 0
    link_id: str = ""

    def encode_body(self) -> bytes:
        if not 1 <= len(self.dest_terminal_ids) <= MAX_DESTINATIONS:
            raise CmppEncodeError(f"DestUsr_tl must be 1..{MAX_DESTINATIONS}")
        if len(self.msg_content) > 255:
            raise CmppEncodeError("Msg_Content longer than 255 octets")
        if not 1 <= self.pk_number <= self.pk_total:
            raise CmppEncodeError("Pk_number must be within 1..Pk_total")
        head = self._head.pack(
            self.msg_id,
            self.pk_total,
            self.pk_number,
            self.registered_delivery,
            self.msg_level,
            _octets(self.service_id, 10, "Service_Id"),
            self.fee_user_type,
            _octets(self.fee_terminal_id, 32, "Fee_terminal_Id"),
            self.fee_terminal_type,
            self.tp_pid,
            self.tp_udhi,
            self.msg_fmt,
            _octets(self.msg_src, 6, "Msg_src"),
            _octets(self.fee_type, 2, "FeeType"),
            _octets(self.fee_code, 6, "FeeCode"),
            _octets(self.valid_time, 17, "ValId_Time"),
            _octets(self.at_time, 17, "At_Time"),
            _octets(self.src_id, 21, "Src_Id"),
            len(self.dest_terminal_ids),
        )
        dests = b"".join(
            _octets(d, 32, "Dest_terminal_Id").ljust(32, b"\x00") for d in self.dest_terminal_ids
        )
        tail = self._tail.pack(self.dest_terminal_type, len(self.msg_content))
        link = _octets(self.link_id, 20, "LinkID").ljust(20, b"\x00")
        return head + dests + tail + self.msg_content + link

    @classmethod
    def decode_body(cls, body: bytes) -> Self:
        head_size = cls._head.size
        if len(body) < head_size + 32 + cls._tail.size + 20:
            raise CmppDecodeError(f"CMPP_SUBMIT body too short: {len(body)} octets")
        h = cls._head.unpack_from(body)
        count = h[18]
        if not 1 <= count <= MAX_DESTINATIONS:
            raise CmppDecodeError(f"CMPP_SUBMIT DestUsr_tl={count} outside 1..{MAX_DESTINATIONS}")
        at = head_size + 32 * count
        if len(body) < at + cls._tail.size:
            raise CmppDecodeError("CMPP_SUBMIT body ends inside Dest_terminal_Id")
        dest_type, msg_len = cls._tail.unpack_from(body, at)
        at += cls._tail.size
        if len(body) != at + msg_len + 20:
            raise CmppDecodeError(
                f"CMPP_SUBMIT length {len(body)} disagrees with Msg_Length={msg_len}"
            )
        dests = tuple(
            _string(body[head_size + 32 * i : head_size + 32 * (i + 1)], "Dest_terminal_Id")
            for i in range(count)
        )
        return cls(
            dest_terminal_ids=dests,
            msg_content=body[at : at + msg_len],
            msg_fmt=h[11],
            msg_id=h[0],
            pk_total=h[1],
            pk_number=h[2],
            registered_delivery=h[3],
            msg_level=h[4],
            service_id=_string(h[5], "Service_Id"),
            fee_user_type=h[6],
            fee_terminal_id=_string(h[7], "Fee_terminal_Id"),
            fee_terminal_type=h[8],
            tp_pid=h[9],
            tp_udhi=h[10],
            msg_src=_string(h[12], "Msg_src"),
            fee_type=_string(h[13], "FeeType"),
            fee_code=_string(h[14], "FeeCode"),
            valid_time=_string(h[15], "ValId_Time"),
            at_time=_string(h[16], "At_Time"),
            src_id=_string(h[17], "Src_Id"),
            dest_terminal_type=dest_type,
            link_id=_string(body[at + msg_len :], "LinkID"),
        )


@dataclass(frozen=True, slots=True)
class Deliver(Pdu):
    """CMPP_DELIVER (ISMG -> SP): a mobile-originated message or, if registered_delivery=1,
    a status report whose 71-octet content is available as `report()`."""

    command: ClassVar[CommandId] = CommandId.DELIVER
    _head: ClassVar[struct.Struct] = struct.Struct(">Q21s10sBBB32sBBB")
    msg_id: int
    dest_id: str
    src_terminal_id: str
    msg_content: bytes
    msg_fmt: int = MsgFmt.ASCII
    registered_delivery: int = 0
    service_id: str = ""
    tp_pid: int = 0
    tp_udhi: int = 0
    src_terminal_type: int = 0
    link_id: str = ""

    @property
    def is_report(self) -> bool:
        return self.registered_delivery == 1

    def report(self) -> DeliveryReport:
        """The status report carried by this DELIVER."""
        if not self.is_report:
            raise CmppDecodeError("CMPP_DELIVER is a message, not a status report")
        return DeliveryReport.decode(self.msg_content)

    def encode_body(self) -> bytes:
        if len(self.msg_content) > 255:
            raise CmppEncodeError("Msg_Content longer than 255 octets")
        head = self._head.pack(
            self.msg_id,
            _octets(self.dest_id, 21, "Dest_Id"),
            _octets(self.service_id, 10, "Service_Id"),
            self.tp_pid,
            self.tp_udhi,
            self.msg_fmt,
            _octets(self.src_terminal_id, 32, "Src_terminal_Id"),
            self.src_terminal_type,
            self.registered_delivery,
            len(self.msg_content),
        )
        link = _octets(self.link_id, 20, "LinkID").ljust(20, b"\x00")
        return head + self.msg_content + link

    @classmethod
    def decode_body(cls, body: bytes) -> Self:
        size = cls._head.size
        if len(body) < size + 20:
            raise CmppDecodeError(f"CMPP_DELIVER body too short: {len(body)} octets")
        h = cls._head.unpack_from(body)
        msg_len = h[9]
        if len(body) != size + msg_len + 20:
            raise CmppDecodeError(
                f"CMPP_DELIVER length {len(body)} disagrees with Msg_Length={msg_len}"
            )
        if h[8] == 1 and msg_len != REPORT_LENGTH:
            raise CmppDecodeError(f"status report must be {REPORT_LENGTH} octets, got {msg_len}")
        pdu = cls(
            msg_id=h[0],
            dest_id=_string(h[1], "Dest_Id"),
            service_id=_string(h[2], "Service_Id"),
            tp_pid=h[3],
            tp_udhi=h[4],
            msg_fmt=h[5],
            src_terminal_id=_string(h[6], "Src_terminal_Id"),
            src_terminal_type=h[7],
            registered_delivery=h[8],
            msg_content=body[size : size + msg_len],
            link_id=_string(body[size + msg_len :], "LinkID"),
        )
        if pdu.is_report:
            pdu.report()  # validate eagerly: a bad report is a bad PDU
        return pdu


# --- framing ---------------------------------------------------------------------------

PDU_TYPES: dict[int, type[Pdu]] = {
    cls.command: cls
    for cls in (
        Connect,
        ConnectResp,
        Terminate,
        TerminateResp,
        Submit,
        SubmitResp,
        Deliver,
        DeliverResp,
        ActiveTest,
        ActiveTestResp,
    )
}
MAX_PDU_LENGTH = (
    HEADER_LENGTH + Submit._head.size + 32 * MAX_DESTINATIONS + Submit._tail.size + 255 + 20
)


@dataclass(frozen=True, slots=True)
class Frame:
    """One length-delimited PDU whose body has not been interpreted yet."""

    command_id: int
    sequence_id: int
    body: bytes

    @property
    def is_response(self) -> bool:
        return bool(self.command_id & RESPONSE_BIT)

    def decode(self) -> Pdu:
        """The typed PDU; unknown command ids and bad bodies raise CmppDecodeError."""
        pdu_type = PDU_TYPES.get(self.command_id)
        if pdu_type is None:
            raise CmppDecodeError(f"unknown Command_Id 0x{self.command_id:08X}")
        return pdu_type.decode_body(self.body)


def encode_pdu(pdu: Pdu, sequence_id: int) -> bytes:
    """Header + body, ready for the socket."""
    try:
        body = pdu.encode_body()
        return HEADER.pack(HEADER_LENGTH + len(body), pdu.command, sequence_id) + body
    except struct.error as exc:
        raise CmppEncodeError(f"{pdu.command.name}: {exc}") from exc


def _check_length(total: int) -> None:
    if not HEADER_LENGTH <= total <= MAX_PDU_LENGTH:
        raise CmppFramingError(f"Total_Length {total} outside {HEADER_LENGTH}..{MAX_PDU_LENGTH}")


def decode_frame(data: bytes) -> Frame:
    """Split exactly one PDU's bytes into header fields and body."""
    if len(data) < HEADER_LENGTH:
        raise CmppFramingError(f"PDU shorter than the {HEADER_LENGTH}-octet header")
    total, command_id, sequence_id = HEADER.unpack_from(data)
    _check_length(total)
    if total != len(data):
        raise CmppFramingError(f"Total_Length {total} but {len(data)} octets given")
    return Frame(command_id, sequence_id, data[HEADER_LENGTH:])


def decode_pdu(data: bytes) -> tuple[int, Pdu]:
    """(Sequence_Id, PDU) from exactly one PDU's bytes."""
    frame = decode_frame(data)
    return frame.sequence_id, frame.decode()


async def read_frame(reader: asyncio.StreamReader) -> Frame:
    """Read one PDU from a stream; EOF raises asyncio.IncompleteReadError."""
    header = await reader.readexactly(HEADER_LENGTH)
    total, command_id, sequence_id = HEADER.unpack(header)
    _check_length(total)
    body = await reader.readexactly(total - HEADER_LENGTH)
    return Frame(command_id, sequence_id, body)


# --- text, long messages and reassembly --------------------------------------------------

UCS2_SINGLE_CHARS = 70
UCS2_SEGMENT_CHARS = 67
ASCII_SINGLE_CHARS = 160
OCTET_LIMIT = 140
_UDH_CONCAT_8BIT = 0x00
_UDH_CONCAT_16BIT = 0x08
_ENCODE_CODECS: dict[int, str] = {
    MsgFmt.ASCII: "ascii",
    MsgFmt.UCS2: "utf-16-be",
    MsgFmt.GBK: "gbk",
}
# GB18030 is a superset of GBK: a phone sending a rarer character still decodes
_DECODE_CODECS: dict[int, str] = {**_ENCODE_CODECS, MsgFmt.GBK: "gb18030"}


@dataclass(frozen=True, slots=True)
class Segment:
    """One SUBMIT's worth of a message: content (with UDH when udhi) and its place."""

    content: bytes
    udhi: bool = False
    total: int = 1
    number: int = 1


@dataclass(frozen=True, slots=True)
class Concat:
    """Concatenation info from a UDH."""

    reference: int
    total: int
    number: int


def choose_msg_fmt(text: str) -> MsgFmt:
    """ASCII for short plain text, UCS-2 for everything else (Chinese, long text)."""
    return MsgFmt.ASCII if text.isascii() and len(text) <= ASCII_SINGLE_CHARS else MsgFmt.UCS2


def encode_text(text: str, msg_fmt: int) -> bytes:
    """Text as Msg_Content octets for Msg_Fmt 0 (ASCII), 8 (UCS-2) or 15 (GBK)."""
    codec = _ENCODE_CODECS.get(msg_fmt)
    if codec is None:
        raise CmppEncodeError(f"cannot encode text as Msg_Fmt {msg_fmt}")
    try:
        return text.encode(codec)
    except UnicodeEncodeError as exc:
        raise CmppEncodeError(f"text cannot be encoded as Msg_Fmt {msg_fmt}: {exc}") from exc


def decode_text(data: bytes, msg_fmt: int) -> str:
    """Msg_Content octets as text; undecodable octets become U+FFFD rather than lose a reply."""
    codec = _DECODE_CODECS.get(msg_fmt)
    if codec is None:
        raise CmppDecodeError(f"Msg_Fmt {msg_fmt} is not text")
    return data.decode(codec, errors="replace")


def make_udh(reference: int, total: int, number: int) -> bytes:
    """The 6-octet concatenation header 05 00 03 ref total number."""
    return bytes((5, _UDH_CONCAT_8BIT, 3, reference & 0xFF, total, number))


def split_text(text: str, *, reference: int, msg_fmt: int | None = None) -> list[Segment]:
    """Segments for `text`: up to 70 UCS-2 chars in one, otherwise 67-char parts with a UDH.

    ASCII (<= 160 chars) and GBK (<= 140 octets) are single-segment only.
    """
    fmt = choose_msg_fmt(text) if msg_fmt is None else msg_fmt
    data = encode_text(text, fmt)
    if fmt == MsgFmt.ASCII:
        if len(data) > ASCII_SINGLE_CHARS:
            raise CmppEncodeError("ASCII text over 160 characters: send it as UCS-2")
        return [Segment(data)]
    if fmt != MsgFmt.UCS2:
        if len(data) > OCTET_LIMIT:
            raise CmppEncodeError(f"Msg_Fmt {fmt} text over {OCTET_LIMIT} octets")
        return [Segment(data)]
    if len(data) <= 2 * UCS2_SINGLE_CHARS:
        return [Segment(data)]
    chunks: list[bytes] = []
    at = 0
    while at < len(data):
        end = min(at + 2 * UCS2_SEGMENT_CHARS, len(data))
        if end < len(data) and 0xD8 <= data[end - 2] <= 0xDB:
            end -= 2  # never split a surrogate pair between two segments
        chunks.append(data[at:end])
        at = end
    if len(chunks) > 255:
        raise CmppEncodeError(f"text needs {len(chunks)} segments; at most 255 are possible")
    total = len(chunks)
    return [
        Segment(make_udh(reference, total, n) + chunk, True, total, n)
        for n, chunk in enumerate(chunks, 1)
    ]


def parse_udh(content: bytes) -> tuple[Concat | None, bytes]:
    """(concatenation info or None, payload after the UDH) for TP_udhi=1 content."""
    if not content or len(content) < 1 + content[0]:
        raise CmppDecodeError("TP_udhi=1 but Msg_Content is shorter than its UDH")
    header, payload = content[1 : 1 + content[0]], content[1 + content[0] :]
    concat: Concat | None = None
    at = 0
    while at < len(header):
        if at + 2 > len(header) or at + 2 + header[at + 1] > len(header):
            raise CmppDecodeError("UDH information element overruns the header")
        iei, data = header[at], header[at + 2 : at + 2 + header[at + 1]]
        if iei == _UDH_CONCAT_8BIT and len(data) == 3:
            concat = Concat(data[0], data[1], data[2])
        elif iei == _UDH_CONCAT_16BIT and len(data) == 4:
            concat = Concat(int.from_bytes(data[:2], "big"), data[2], data[3])
        at += 2 + len(data)
    if concat is not None and not 1 <= concat.number <= concat.total:
        raise CmppDecodeError(f"UDH part {concat.number} of {concat.total} is impossible")
    return concat, payload


class Reassembler(Generic[T]):
    """Collects concatenated parts per (key, reference, total) until every part has arrived.

    Incomplete groups older than `ttl` seconds are dropped so lost parts cannot leak memory.
    """

    def __init__(self, *, ttl: float = 600.0, clock: Callable[[], float] = time.monotonic):
        self._ttl = ttl
        self._clock = clock
        self._groups: dict[tuple[Hashable, int, int], tuple[float, dict[int, tuple[bytes, T]]]]
        self._groups = {}

    @property
    def pending(self) -> int:
        """Number of incomplete messages held."""
        return len(self._groups)

    def add(
        self, key: Hashable, concat: Concat, payload: bytes, meta: T
    ) -> list[tuple[bytes, T]] | None:
        """Store one part; return all parts in order once the message is complete."""
        now = self._clock()
        for stale in [g for g, (t, _) in self._groups.items() if now - t > self._ttl]:
            del self._groups[stale]
        group_key = (key, concat.reference, concat.total)
        _, parts = self._groups.setdefault(group_key, (now, {}))
        parts[concat.number] = (payload, meta)
        if len(parts) < concat.total:
            return None
        del self._groups[group_key]
        return [parts[n] for n in range(1, concat.total + 1)]
