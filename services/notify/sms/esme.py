"""One SMPP 3.4 transceiver session (the ESME side) over asyncio streams.

smpp34's client answers every deliver_sm in its Rust core before Python sees the message, so
a receipt or a customer's reply that we then fail to store is lost: the SMSC was told we had
it. This session answers a deliver_sm only once its handler returned, with the status the
handler chose (ESME_ROK once stored, ESME_RX_T_APPN when the store failed, so the SMSC
delivers it again). smpp34's codec still encodes submit_sm and decodes deliver_sm; the
session PDUs around them (bind, enquire_link, unbind, the responses) are header-sized and
built here. Submits are windowed and matched to their responses by sequence number.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import struct
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

import smpp34

log = logging.getLogger(__name__)

HEADER = struct.Struct(">IIII")  # command_length, command_id, command_status, sequence_number
GENERIC_NACK = 0x80000000
BIND_TRANSCEIVER = 0x00000009
SUBMIT_SM = 0x00000004
DELIVER_SM = 0x00000005
UNBIND = 0x00000006
ENQUIRE_LINK = 0x00000015
RESPONSE = 0x80000000
ESME_ROK = 0x00000000
ESME_RINVCMDID = 0x00000003
ESME_RX_T_APPN = 0x00000064
"""deliver_sm_resp status "ESME receiver temporary app error": the SMSC retries later."""
MAX_PDU = 64 * 1024 + 1024


class SessionClosed(ConnectionError):
    """The session ended. `written` tells whether the request had left for the SMSC (so it
    may have been taken) or never went out."""

    def __init__(self, message: str, *, written: bool) -> None:
        super().__init__(message)
        self.written = written


class BindRefused(ConnectionError):
    """The SMSC answered the bind with an error status."""


def _cstr(value: str) -> bytes:
    return value.encode("ascii", "replace") + b"\x00"


def _pdu(command_id: int, sequence: int, body: bytes = b"", status: int = ESME_ROK) -> bytes:
    return HEADER.pack(HEADER.size + len(body), command_id, status, sequence) + body


def bind_body(system_id: str, password: str, system_type: str) -> bytes:
    """bind_transceiver: system_id, password, system_type, interface_version 3.4, addr_ton,
    addr_npi, address_range (SMPP 3.4 §4.1.5)."""
    return _cstr(system_id) + _cstr(password) + _cstr(system_type) + bytes([0x34, 0, 0]) + b"\0"


OnDeliver = Callable[[smpp34.DeliverSm], Awaitable[int]]


class EsmeSession:
    """A bound transceiver: `submit` PDUs, hear deliver_sm through `on_deliver`."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        on_deliver: OnDeliver,
        *,
        enquire_link_s: float = 30.0,
        response_timeout_s: float = 10.0,
    ) -> None:
        self._reader, self._writer = reader, writer
        self._on_deliver = on_deliver
        self._enquire_link_s = enquire_link_s
        self._response_timeout_s = response_timeout_s
        self._sequence = itertools.count(1)
        self._pending: dict[int, asyncio.Future[tuple[int, bytes]]] = {}
        self._delivered: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
        self._closed = False

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        *,
        system_id: str,
        password: str,
        system_type: str,
        on_deliver: OnDeliver,
        connect_timeout_s: float,
        response_timeout_s: float = 10.0,
        enquire_link_s: float = 30.0,
    ) -> EsmeSession:
        """Connect and bind as a transceiver; raises OSError, TimeoutError or BindRefused."""
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port), connect_timeout_s
        )
        session = cls(
            reader,
            writer,
            on_deliver,
            enquire_link_s=enquire_link_s,
            response_timeout_s=response_timeout_s,
        )
        try:
            writer.write(_pdu(BIND_TRANSCEIVER, 1, bind_body(system_id, password, system_type)))
            next(session._sequence)
            header, _ = await asyncio.wait_for(session._read_pdu(), connect_timeout_s)
        except BaseException:
            writer.close()
            raise
        _, command_id, status, _ = header
        if command_id != BIND_TRANSCEIVER | RESPONSE or status != ESME_ROK:
            writer.close()
            raise BindRefused(f"bind_transceiver refused: command_status {status:#010x}")
        return session

    # --- requests ---------------------------------------------------------------------------
    async def submit(self, **fields: Any) -> tuple[int, str | None]:
        """Send one submit_sm; (command_status, message_id). TimeoutError if no answer in
        time; SessionClosed if the session ended first."""
        sequence = next(self._sequence)
        pdu = smpp34.SubmitSm(sequence_number=sequence, **fields).encode()
        status, body = await self._request(sequence, pdu, timeout_s=None)
        message_id = body.split(b"\x00", 1)[0].decode("ascii", "replace") if body else None
        return status, message_id or None

    async def _request(
        self, sequence: int, pdu: bytes, *, timeout_s: float | None
    ) -> tuple[int, bytes]:
        if self._closed:
            raise SessionClosed("SMPP session closed", written=False)
        future: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
        self._pending[sequence] = future
        try:
            self._writer.write(pdu)
            return await asyncio.wait_for(future, timeout_s or self._response_timeout_s)
        finally:
            self._pending.pop(sequence, None)

    async def unbind(self) -> None:
        with suppress(Exception):
            await self._request(next(self._sequence), _pdu(UNBIND, 0), timeout_s=2.0)

    # --- the read loop ----------------------------------------------------------------------
    async def run(self) -> None:
        """Read until the SMSC or the network ends the session; answers what it must."""
        keeper = asyncio.create_task(self._keep_alive(), name="smpp enquire_link")
        handler = asyncio.create_task(self._handle_delivered(), name="smpp deliver_sm")
        try:
            while True:
                try:
                    header, body = await self._read_pdu()
                except (asyncio.IncompleteReadError, ConnectionError, OSError):
                    return
                if not self._dispatch(header, body):
                    return
        finally:
            keeper.cancel()
            handler.cancel()
            await self.close()

    def _dispatch(self, header: tuple[int, int, int, int], body: bytes) -> bool:
        length, command_id, status, sequence = header
        if command_id & RESPONSE:
            future = self._pending.get(sequence)
            if future is not None and not future.done():
                future.set_result((status, body))
            return True
        if command_id == DELIVER_SM:
            raw = HEADER.pack(length, command_id, status, sequence) + body
            self._delivered.put_nowait((sequence, raw))
        elif command_id == ENQUIRE_LINK:
            self._writer.write(_pdu(ENQUIRE_LINK | RESPONSE, sequence))
        elif command_id == UNBIND:
            self._writer.write(_pdu(UNBIND | RESPONSE, sequence))
            return False
        else:
            self._writer.write(_pdu(GENERIC_NACK, sequence, status=ESME_RINVCMDID))
        return True

    async def _handle_delivered(self) -> None:
        """One deliver_sm at a time, in arrival order: receipts of one message's segments
        fold into its status without racing each other (the read loop goes on meanwhile)."""
        while True:
            sequence, raw = await self._delivered.get()
            await self._deliver(sequence, raw)

    async def _deliver(self, sequence: int, raw: bytes) -> None:
        """Answer the deliver_sm with the handler's status, only after it returned."""
        try:
            pdu = smpp34.decode(raw)
            assert isinstance(pdu, smpp34.DeliverSm)
            status = await self._on_deliver(pdu)
        except Exception:
            log.exception("a deliver_sm could not be handled; the SMSC will deliver it again")
            status = ESME_RX_T_APPN
        if not self._closed:
            self._writer.write(_pdu(DELIVER_SM | RESPONSE, sequence, b"\x00", status))

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(self._enquire_link_s)
            try:
                await self._request(next(self._sequence), _pdu(ENQUIRE_LINK, 0), timeout_s=None)
            except (TimeoutError, SessionClosed):
                log.warning("SMSC did not answer enquire_link; closing the session")
                self._writer.close()
                return

    async def _read_pdu(self) -> tuple[tuple[int, int, int, int], bytes]:
        head = await self._reader.readexactly(HEADER.size)
        header = HEADER.unpack(head)
        if not HEADER.size <= header[0] <= MAX_PDU:
            raise ConnectionError(f"bad SMPP command_length {header[0]}")
        return header, await self._reader.readexactly(header[0] - HEADER.size)

    async def close(self) -> None:
        """End the session: pending requests fail, unanswered deliver_sm stay unanswered (the
        SMSC re-delivers them on the next bind)."""
        if self._closed:
            return
        self._closed = True
        for future in self._pending.values():
            if not future.done():
                future.set_exception(SessionClosed("SMPP session ended", written=True))
        self._writer.close()
        with suppress(Exception):
            await asyncio.wait_for(self._writer.wait_closed(), 2)
