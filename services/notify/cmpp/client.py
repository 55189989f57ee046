"""Asyncio CMPP 3.0 client (SP side): authenticated long connection, windowed submits,
delivery reports and mobile-originated replies, ACTIVE_TEST keep-alive, reconnect.

A submit whose SUBMIT_RESP never arrives is reported as failed and never resent by the
client: the gateway may have accepted it, and customers must not receive an SMS twice.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from services.notify.cmpp.codec import (
    RESPONSE_BIT,
    ActiveTest,
    ActiveTestResp,
    CmppDecodeError,
    CmppError,
    CmppFramingError,
    CommandId,
    Connect,
    ConnectResp,
    ConnectStatus,
    Deliver,
    DeliverResp,
    DeliverResult,
    Frame,
    MsgFmt,
    Pdu,
    Reassembler,
    SequenceIds,
    Submit,
    SubmitResp,
    SubmitResult,
    Terminate,
    TerminateResp,
    authenticator_ismg,
    china_now,
    choose_msg_fmt,
    decode_text,
    describe,
    encode_pdu,
    parse_udh,
    read_frame,
    split_text,
)

log = logging.getLogger(__name__)

OnReport = Callable[[int, str, str], Awaitable[None] | None]
"""on_report(msg_id, stat, dest_msisdn), e.g. (…, "DELIVRD", "8613800138000")."""
OnMessage = Callable[[str, str], Awaitable[None] | None]
"""on_message(src_msisdn, text) for a mobile-originated message (a customer's reply)."""


class CmppAuthError(CmppError):
    """The gateway refused CMPP_CONNECT (or could not prove it knows the shared secret)."""

    def __init__(self, code: int, detail: str | None = None) -> None:
        self.code = code
        self.status = ConnectStatus.of(code)
        super().__init__(detail or f"CMPP_CONNECT refused: {describe(self.status, code)}")


class CmppSubmitError(CmppError):
    """The gateway answered a SUBMIT with Result != 0; `msg_ids` are segments it accepted."""

    def __init__(self, code: int, msg_ids: list[int] | None = None) -> None:
        self.code = code
        self.result = SubmitResult.of(code)
        self.msg_ids = msg_ids or []
        super().__init__(f"CMPP_SUBMIT refused: {describe(self.result, code)}")


class CmppConnectionError(CmppError):
    """No usable link to the gateway; an in-flight submit's outcome is unknown. `msg_ids`:
    segments of the message accepted before."""

    msg_ids: tuple[int, ...] = ()


class CmppTimeoutError(CmppError, TimeoutError):
    """The gateway did not answer a request in time. `msg_ids`: segments of the message
    accepted before."""

    msg_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class CmppClientConfig:
    """Where and how to reach the ISMG. Times are in seconds."""

    host: str
    port: int
    source_addr: str  # SP_Id (企业代码), 6 digits
    secret: str
    src_id: str  # SP service number shown as the sender, e.g. "1065710086"
    service_id: str = ""
    msg_src: str | None = None  # defaults to source_addr
    fee_user_type: int = 2  # the SP pays
    fee_type: str = "01"  # free for the customer
    fee_code: str = "000000"
    window: int = 16
    response_timeout: float = 10.0
    connect_timeout: float = 10.0
    wait_connected_timeout: float = 10.0
    active_test_interval: float = 30.0
    active_test_max_missed: int = 3
    reconnect_initial_delay: float = 1.0
    reconnect_max_delay: float = 60.0
    flow_control_retries: int = 3
    flow_control_delay: float = 0.2
    close_timeout: float = 2.0
    verify_ismg_authenticator: bool = True


def mask_msisdn(msisdn: str) -> str:
    """138****8000 style, for logs."""
    return msisdn[:-8] + "****" + msisdn[-4:] if len(msisdn) >= 11 else "****"


async def _call(callback: Callable[..., Awaitable[None] | None] | None, *args: object) -> None:
    if callback is not None:
        result = callback(*args)
        if inspect.isawaitable(result):
            await result


class _Link:
    """One authenticated TCP session: writes, pending requests by Sequence_Id, liveness."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        seq: SequenceIds,
        on_closed: Callable[[_Link], None],
    ) -> None:
        self.reader = reader
        self.writer = writer
        self._seq = seq
        self._on_closed = on_closed
        self.pending: dict[int, tuple[int, asyncio.Future[Pdu]]] = {}
        self.closed = asyncio.Event()
        self.missed_active_tests = 0
        self.tasks: list[asyncio.Task[None]] = []

    def send(self, pdu: Pdu, sequence_id: int | None = None) -> int:
        if self.closed.is_set():
            raise CmppConnectionError("CMPP link is closed")
        seq = self._seq.next() if sequence_id is None else sequence_id
        self.writer.write(encode_pdu(pdu, seq))
        return seq

    async def request(self, pdu: Pdu, within: float) -> Pdu:
        """Send `pdu` and wait for the response with the same Sequence_Id."""
        future: asyncio.Future[Pdu] = asyncio.get_running_loop().create_future()
        seq = self.send(pdu)
        self.pending[seq] = (pdu.command | RESPONSE_BIT, future)
        try:
            await self.writer.drain()
            return await asyncio.wait_for(future, within)
        except TimeoutError:
            raise CmppTimeoutError(f"no answer to {pdu.command.name} within {within}s") from None
        except OSError as exc:
            raise CmppConnectionError(f"CMPP link failed: {exc}") from exc
        finally:
            self.pending.pop(seq, None)

    def resolve(self, frame: Frame) -> None:
        entry = self.pending.pop(frame.sequence_id, None)
        if entry is None:
            if frame.command_id != CommandId.ACTIVE_TEST_RESP:  # keep-alive answers
                log.warning(
                    "CMPP response 0x%08X seq %d matches no request",
                    frame.command_id,
                    frame.sequence_id,
                )
            return
        expected, future = entry
        if future.done():
            return
        try:
            if frame.command_id != expected:
                raise CmppDecodeError(f"expected 0x{expected:08X}, got 0x{frame.command_id:08X}")
            future.set_result(frame.decode())
        except CmppDecodeError as exc:
            future.set_exception(exc)

    def close(self, reason: str) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for _, future in self.pending.values():
            if not future.done():
                future.set_exception(CmppConnectionError(f"CMPP link closed: {reason}"))
        self.pending.clear()
        self.writer.close()
        self._on_closed(self)
        current = asyncio.current_task()
        for task in self.tasks:
            if task is not current:
                task.cancel()


class CmppClient:
    """A CMPP 3.0 SP client: `await start()`, `await submit(...)`, `await close()`."""

    def __init__(
        self,
        config: CmppClientConfig,
        *,
        on_report: OnReport | None = None,
        on_message: OnMessage | None = None,
        clock: Callable[[], datetime] = china_now,
    ) -> None:
        self.config = config
        self._on_report = on_report
        self._on_message = on_message
        self._clock = clock
        self._seq = SequenceIds()
        self._window = asyncio.Semaphore(config.window)
        self._link: _Link | None = None
        self._connected = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._mo_parts: Reassembler[None] = Reassembler()
        self._reference = random.randrange(256)
        self._closing = False
        self.reconnects = 0

    @property
    def connected(self) -> bool:
        return self._link is not None and not self._link.closed.is_set()

    async def __aenter__(self) -> CmppClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Connect and authenticate; raises CmppAuthError, OSError or CmppTimeoutError."""
        await self._open()
        self._supervisor = asyncio.create_task(self._supervise(), name="cmpp-supervisor")

    async def close(self) -> None:
        """Let in-flight submits finish, send CMPP_TERMINATE, close the socket."""
        self._closing = True
        if self._supervisor is not None:
            self._supervisor.cancel()
        link = self._link
        if link is not None and not link.closed.is_set():
            in_flight = [future for _, future in link.pending.values()]
            if in_flight:
                await asyncio.wait(in_flight, timeout=self.config.close_timeout)
            try:
                await link.request(Terminate(), self.config.close_timeout)
            except CmppError as exc:
                log.info("CMPP_TERMINATE not answered: %s", exc)
            link.close("client closed")
        for task in list(self._handlers):
            task.cancel()
        self._connected.clear()

    async def submit(
        self,
        dest: str,
        text: str,
        *,
        registered_delivery: bool = True,
        msg_fmt: MsgFmt | None = None,
        service_id: str | None = None,
        src_id: str | None = None,
        link_id: str = "",
    ) -> list[int]:
        """Send `text` to `dest`; returns one gateway Msg_Id per segment, in order."""
        fmt = choose_msg_fmt(text) if msg_fmt is None else msg_fmt
        self._reference = (self._reference + 1) & 0xFF
        segments = split_text(text, reference=self._reference, msg_fmt=fmt)
        cfg = self.config
        pdus = [
            Submit(
                dest_terminal_ids=(dest,),
                msg_content=s.content,
                msg_fmt=fmt,
                pk_total=s.total,
                pk_number=s.number,
                registered_delivery=int(registered_delivery),
                service_id=cfg.service_id if service_id is None else service_id,
                fee_user_type=cfg.fee_user_type,
                tp_udhi=int(s.udhi),
                msg_src=cfg.msg_src or cfg.source_addr,
                fee_type=cfg.fee_type,
                fee_code=cfg.fee_code,
                src_id=cfg.src_id if src_id is None else src_id,
                link_id=link_id,
            )
            for s in segments
        ]
        return await self._submit_in_order(dest, pdus)

    async def _submit_in_order(self, dest: str, pdus: list[Submit]) -> list[int]:
        """Segments go out one after another. A segment refused for flow control was not
        taken and is retried before the next one goes out; any other failure stops the
        message: later segments are never sent, and the error carries the Msg_Ids of the
        segments already accepted (`msg_ids`), so no caller re-sends segments one by one
        while another has failed."""
        accepted: list[int] = []
        for pdu in pdus:
            try:
                accepted.append(await self._submit_one(pdu))
            except CmppSubmitError as exc:
                raise CmppSubmitError(exc.code, accepted) from exc
            except (CmppTimeoutError, CmppConnectionError) as exc:
                if accepted:
                    log.warning("CMPP segments %s to %s accepted before: %s", accepted, dest, exc)
                exc.msg_ids = tuple(accepted)
                raise
        return accepted

    async def active_test(self) -> None:
        """Send CMPP_ACTIVE_TEST and wait for its answer."""
        link = await self._current_link()
        await link.request(ActiveTest(), self.config.response_timeout)

    async def wait_connected(self) -> None:
        """Return once a link is up; bound the wait with asyncio.timeout()."""
        while not self.connected:
            if self._closing:
                raise CmppConnectionError("CMPP client is closed")
            await self._connected.wait()
            await asyncio.sleep(0)

    # --- submits ------------------------------------------------------------------------

    async def _submit_one(self, pdu: Submit) -> int:
        cfg = self.config
        attempt = 0
        while True:
            async with self._window:
                link = await self._current_link()
                resp = await link.request(pdu, cfg.response_timeout)
            if not isinstance(resp, SubmitResp):  # resolve() guarantees the type
                raise CmppDecodeError(f"unexpected answer {resp!r}")
            if resp.result == SubmitResult.OK:
                return resp.msg_id
            if resp.result != SubmitResult.FLOW_CONTROL or attempt >= cfg.flow_control_retries:
                raise CmppSubmitError(resp.result)
            await asyncio.sleep(cfg.flow_control_delay * 2**attempt)
            attempt += 1

    async def _current_link(self) -> _Link:
        loop = asyncio.get_running_loop()
        wait = self.config.wait_connected_timeout
        deadline = loop.time() + wait
        while True:
            if self._closing:
                raise CmppConnectionError("CMPP client is closed")
            link = self._link
            if link is not None and not link.closed.is_set():
                return link
            remaining = deadline - loop.time()
            try:
                if remaining <= 0:
                    raise TimeoutError
                await asyncio.wait_for(self._connected.wait(), remaining)
            except TimeoutError:
                raise CmppConnectionError(f"no CMPP link within {wait}s") from None

    # --- connection lifecycle -------------------------------------------------------------

    async def _open(self) -> None:
        cfg = self.config
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(cfg.host, cfg.port), cfg.connect_timeout
        )
        try:
            await self._authenticate(reader, writer)
        except BaseException:
            writer.close()
            raise
        link = _Link(reader, writer, self._seq, self._link_closed)
        link.tasks = [
            asyncio.create_task(self._read_loop(link), name="cmpp-reader"),
            asyncio.create_task(self._keep_alive(link), name="cmpp-keepalive"),
        ]
        self._link = link
        self._connected.set()
        log.info("CMPP link up to %s:%d as %s", cfg.host, cfg.port, cfg.source_addr)

    async def _authenticate(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        cfg = self.config
        connect = Connect.create(cfg.source_addr, cfg.secret, self._clock())
        seq = self._seq.next()
        writer.write(encode_pdu(connect, seq))
        await writer.drain()
        try:
            frame = await asyncio.wait_for(read_frame(reader), cfg.response_timeout)
        except TimeoutError:
            raise CmppTimeoutError("no CMPP_CONNECT_RESP") from None
        except asyncio.IncompleteReadError:
            raise CmppConnectionError("gateway closed the connection during CONNECT") from None
        resp = frame.decode()
        if not isinstance(resp, ConnectResp) or frame.sequence_id != seq:
            raise CmppDecodeError(f"expected CMPP_CONNECT_RESP seq {seq}, got {resp!r}")
        if resp.status != ConnectStatus.OK:
            raise CmppAuthError(resp.status)
        expected = authenticator_ismg(0, connect.authenticator_source, cfg.secret)
        if cfg.verify_ismg_authenticator and resp.authenticator_ismg != expected:
            raise CmppAuthError(0, "AuthenticatorISMG is wrong: the gateway is not who we think")

    def _link_closed(self, link: _Link) -> None:
        if self._link is link:
            self._connected.clear()

    async def _supervise(self) -> None:
        cfg = self.config
        while not self._closing:
            if self._link is not None:
                await self._link.closed.wait()
            delay = cfg.reconnect_initial_delay
            while not self._closing:
                await asyncio.sleep(delay / 2 + random.uniform(0, delay / 2))
                try:
                    await self._open()
                except (OSError, CmppError, TimeoutError) as exc:
                    log.warning("CMPP reconnect to %s:%d failed: %s", cfg.host, cfg.port, exc)
                    delay = min(delay * 2, cfg.reconnect_max_delay)
                else:
                    self.reconnects += 1
                    break

    async def _keep_alive(self, link: _Link) -> None:
        cfg = self.config
        while not link.closed.is_set():
            await asyncio.sleep(cfg.active_test_interval)
            if link.missed_active_tests >= cfg.active_test_max_missed:
                log.warning("CMPP link dead: %d ACTIVE_TEST unanswered", cfg.active_test_max_missed)
                link.close("keep-alive unanswered")
                return
            link.missed_active_tests += 1
            link.send(ActiveTest())

    # --- inbound --------------------------------------------------------------------------

    async def _read_loop(self, link: _Link) -> None:
        reason = "connection lost"
        try:
            while not link.closed.is_set():
                frame = await read_frame(link.reader)
                link.missed_active_tests = 0  # any traffic proves the link is alive
                if frame.is_response:
                    link.resolve(frame)
                else:
                    self._on_request(link, frame)
        except CmppFramingError as exc:
            reason = str(exc)
            log.error("CMPP stream corrupt, dropping link: %s", exc)
        except (asyncio.IncompleteReadError, OSError):
            pass
        except CmppError as exc:  # e.g. a write after the link closed under us
            reason = str(exc)
        finally:
            link.close(reason)

    def _on_request(self, link: _Link, frame: Frame) -> None:
        command, seq = frame.command_id, frame.sequence_id
        if command == CommandId.ACTIVE_TEST:
            link.send(ActiveTestResp(), seq)
        elif command == CommandId.TERMINATE:
            link.send(TerminateResp(), seq)
            link.close("gateway sent CMPP_TERMINATE")
        elif command == CommandId.DELIVER:
            try:
                deliver = frame.decode()
            except CmppDecodeError as exc:
                log.error("bad CMPP_DELIVER seq %d: %s", seq, exc)
                msg_id = int.from_bytes(frame.body[:8], "big") if len(frame.body) >= 8 else 0
                link.send(DeliverResp(msg_id, DeliverResult.BAD_STRUCTURE), seq)
                return
            assert isinstance(deliver, Deliver)
            task = asyncio.create_task(self._handle_deliver(link, seq, deliver))
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        else:
            log.warning("CMPP request 0x%08X seq %d not handled by an SP", command, seq)

    async def _handle_deliver(self, link: _Link, seq: int, deliver: Deliver) -> None:
        """Run the callback first, then acknowledge: a crash before the ack gets a resend."""
        result = DeliverResult.OK
        try:
            if deliver.is_report:
                report = deliver.report()
                await _call(self._on_report, report.msg_id, report.stat, report.dest_terminal_id)
            else:
                text = self._mo_text(deliver)
                if text is not None:
                    await _call(self._on_message, deliver.src_terminal_id, text)
        except CmppDecodeError as exc:
            log.error("CMPP_DELIVER %d unreadable: %s", deliver.msg_id, exc)
            result = DeliverResult.BAD_STRUCTURE
        except Exception:
            log.exception("CMPP_DELIVER %d callback failed", deliver.msg_id)
            result = DeliverResult.OTHER
        if not link.closed.is_set():
            link.send(DeliverResp(deliver.msg_id, result), seq)

    def _mo_text(self, deliver: Deliver) -> str | None:
        """The complete text of a mobile-originated message, None while parts are missing."""
        content = deliver.msg_content
        if deliver.tp_udhi:
            concat, content = parse_udh(content)
            if concat is not None and concat.total > 1:
                parts = self._mo_parts.add(deliver.src_terminal_id, concat, content, None)
                if parts is None:
                    return None
                content = b"".join(part for part, _ in parts)
        return decode_text(content, deliver.msg_fmt)
