"""An in-process CMPP 3.0 gateway (ISMG) for tests and the embedded default.

It authenticates SPs against configured (Source_Addr, secret) pairs, answers SUBMITs
(with optional failure injection and flow control), reassembles long messages, sends
status reports, injects mobile-originated replies and answers ACTIVE_TEST.
Run it alone with `python -m services.notify.cmpp.peer --account 901234:secret`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.notify.cmpp.client import mask_msisdn
from services.notify.cmpp.codec import (
    VERSION,
    ActiveTest,
    ActiveTestResp,
    CmppDecodeError,
    CmppError,
    CommandId,
    Connect,
    ConnectResp,
    ConnectStatus,
    Deliver,
    DeliveryReport,
    Frame,
    MsgFmt,
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
    authenticator_source,
    china_now,
    choose_msg_fmt,
    decode_text,
    encode_pdu,
    parse_udh,
    read_frame,
    split_text,
)

log = logging.getLogger(__name__)

_ANSWER_TIMEOUT = 5.0
_MAX_TRACKED_MSG_IDS = 100_000


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """A complete (reassembled) message an SP submitted."""

    source_addr: str
    dest: str
    text: str
    msg_ids: tuple[int, ...]
    src_id: str
    service_id: str
    msg_fmt: int
    registered_delivery: bool


@dataclass(slots=True)
class _Session:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    source_addr: str = ""
    pending: dict[int, asyncio.Future[Pdu]] = field(default_factory=dict)

    def send(self, pdu: Pdu, seq: int) -> None:
        self.writer.write(encode_pdu(pdu, seq))


class CmppPeer:
    """A CMPP gateway on 127.0.0.1: `async with CmppPeer({"901234": "secret"}) as peer:`."""

    def __init__(
        self,
        accounts: Mapping[str, str],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        gateway_id: int = 1,
        auto_report: bool = True,
        answer_active_test: bool = True,
        max_submits_per_second: int | None = None,
        submit_delay: float = 0.0,
        clock: Callable[[], datetime] = china_now,
    ) -> None:
        self.accounts = dict(accounts)
        self.host = host
        self.port = port
        self.auto_report = auto_report
        self.answer_active_test = answer_active_test
        self.max_submits_per_second = max_submits_per_second
        self.submit_delay = submit_delay
        self.max_outstanding = 0
        self.submits_seen = 0
        """Every SUBMIT that arrived, accepted or not."""
        self.terminates_received = 0
        self.messages: list[ReceivedMessage] = []
        self.submits: list[Submit] = []
        self.connects: list[tuple[str, int]] = []
        self.deliver_results: list[tuple[int, int]] = []
        self.active_tests_received = 0
        self._clock = clock
        self._msg_ids = MsgIdGenerator(gateway_id, clock)
        self._seq = SequenceIds()
        self._sessions: list[_Session] = []
        self._server: asyncio.Server | None = None
        self._outstanding = 0
        self._failures: deque[int] = deque()
        self._recent: deque[float] = deque()
        self._parts: Reassembler[int] = Reassembler()
        self._owners: dict[int, tuple[str, Submit]] = {}
        self._tasks: set[asyncio.Task[object]] = set()
        self._changed = asyncio.Condition()

    async def __aenter__(self) -> CmppPeer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Listen; with port=0 the OS picks a free port, readable as `self.port`."""
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and drop every session."""
        if self._server is not None:
            self._server.close()
        await self.drop_connections()
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    @property
    def session_count(self) -> int:
        return len(self._sessions)

    def fail_next_submits(self, result: int, count: int = 1) -> None:
        """Answer the next `count` SUBMITs with Result `result` instead of accepting them."""
        self._failures.extend([result] * count)

    def answer_next_submits(self, *results: int) -> None:
        """Answer the next SUBMITs with these Results in order (0 accepts one)."""
        self._failures.extend(results)

    async def drop_connections(self) -> None:
        """Abort every TCP session without CMPP_TERMINATE, like a gateway crash."""
        for session in list(self._sessions):
            session.writer.transport.abort()
        await asyncio.sleep(0)

    async def terminate_sessions(self) -> None:
        """Send CMPP_TERMINATE on every session, as a gateway does before maintenance."""
        for session in list(self._sessions):
            with contextlib.suppress(CmppError, TimeoutError):
                await self._request(session, Terminate())
            session.writer.close()

    async def wait_for_messages(self, count: int) -> list[ReceivedMessage]:
        """Wait until `count` complete messages have arrived; bound with asyncio.timeout()."""
        async with self._changed:
            await self._changed.wait_for(lambda: len(self.messages) >= count)
        return self.messages[:count]

    async def wait_for_sessions(self, count: int) -> None:
        """Wait until `count` authenticated sessions are open."""
        async with self._changed:
            await self._changed.wait_for(lambda: len(self._sessions) >= count)

    async def send_report(self, msg_id: int, stat: str = "DELIVRD") -> int:
        """Send a status report for a Msg_Id we issued; returns the SP's DELIVER_RESP Result."""
        source_addr, submit = self._owners[msg_id]
        now = self._clock().strftime("%y%m%d%H%M")
        dest = submit.dest_terminal_ids[0]
        report = DeliveryReport(msg_id, stat, now, now, dest, random.randrange(1 << 32))
        deliver = Deliver(
            msg_id=self._msg_ids.next(),
            dest_id=submit.src_id,
            src_terminal_id=dest,
            msg_content=report.encode(),
            registered_delivery=1,
            service_id=submit.service_id,
        )
        return await self._deliver(self._session_for(source_addr), deliver)

    async def inject_mo(
        self,
        src_msisdn: str,
        text: str,
        *,
        dest_id: str = "10086",
        service_id: str = "",
        source_addr: str | None = None,
    ) -> list[int]:
        """Deliver a mobile-originated message (split if long); returns each part's Result."""
        fmt = choose_msg_fmt(text)
        session = self._session_for(source_addr)
        results = []
        for segment in split_text(text, reference=random.randrange(256), msg_fmt=fmt):
            deliver = Deliver(
                msg_id=self._msg_ids.next(),
                dest_id=dest_id,
                src_terminal_id=src_msisdn,
                msg_content=segment.content,
                msg_fmt=fmt,
                service_id=service_id,
                tp_udhi=int(segment.udhi),
            )
            results.append(await self._deliver(session, deliver))
        return results

    async def active_test(self) -> None:
        """Send CMPP_ACTIVE_TEST on every session and wait for the answers."""
        for session in list(self._sessions):
            await self._request(session, ActiveTest())

    # --- outbound requests ----------------------------------------------------------------

    def _session_for(self, source_addr: str | None) -> _Session:
        for session in reversed(self._sessions):
            if source_addr is None or session.source_addr == source_addr:
                return session
        raise CmppError(f"no CMPP session for {source_addr or 'any SP'}")

    async def _request(self, session: _Session, pdu: Pdu) -> Pdu:
        seq = self._seq.next()
        future: asyncio.Future[Pdu] = asyncio.get_running_loop().create_future()
        session.pending[seq] = future
        try:
            session.send(pdu, seq)
            return await asyncio.wait_for(future, _ANSWER_TIMEOUT)
        finally:
            session.pending.pop(seq, None)

    async def _deliver(self, session: _Session, deliver: Deliver) -> int:
        resp = await self._request(session, deliver)
        result: int = getattr(resp, "result", -1)
        self.deliver_results.append((deliver.msg_id, result))
        return result

    # --- sessions -------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = _Session(reader, writer)
        try:
            if await self._handshake(session):
                self._sessions.append(session)
                await self._notify()
                while True:
                    frame = await read_frame(reader)
                    if not self._handle(session, frame):
                        break
        except (CmppError, asyncio.IncompleteReadError, OSError, TimeoutError) as exc:
            log.debug("CMPP peer session ended: %r", exc)
        finally:
            if session in self._sessions:
                self._sessions.remove(session)
            for future in session.pending.values():
                if not future.done():
                    future.set_exception(CmppError("session closed"))
            writer.close()

    async def _handshake(self, session: _Session) -> bool:
        frame = await asyncio.wait_for(read_frame(session.reader), _ANSWER_TIMEOUT)
        try:
            connect = frame.decode()
            if not isinstance(connect, Connect):
                raise CmppDecodeError("first PDU must be CMPP_CONNECT")
        except CmppDecodeError:
            session.send(ConnectResp(ConnectStatus.BAD_STRUCTURE), frame.sequence_id)
            self.connects.append(("", ConnectStatus.BAD_STRUCTURE))
            return False
        secret = self.accounts.get(connect.source_addr)
        status = self._connect_status(connect, secret)
        auth = bytes(16)
        if secret is not None:
            auth = authenticator_ismg(status, connect.authenticator_source, secret)
        session.send(ConnectResp(status, auth, VERSION), frame.sequence_id)
        await session.writer.drain()
        self.connects.append((connect.source_addr, status))
        session.source_addr = connect.source_addr
        return status == ConnectStatus.OK

    @staticmethod
    def _connect_status(connect: Connect, secret: str | None) -> ConnectStatus:
        if secret is None:
            return ConnectStatus.BAD_SOURCE_ADDR
        expected = authenticator_source(connect.source_addr, secret, connect.timestamp)
        if connect.authenticator_source != expected:
            return ConnectStatus.AUTH_FAILED
        if connect.version > VERSION:
            return ConnectStatus.VERSION_TOO_HIGH
        return ConnectStatus.OK

    def _handle(self, session: _Session, frame: Frame) -> bool:
        """Act on one PDU; False ends the session."""
        command, seq = frame.command_id, frame.sequence_id
        if frame.is_response:
            future = session.pending.pop(seq, None)
            if future is not None and not future.done():
                try:
                    future.set_result(frame.decode())
                except CmppDecodeError as exc:
                    future.set_exception(exc)
        elif command == CommandId.SUBMIT:
            self._on_submit(session, frame)
        elif command == CommandId.ACTIVE_TEST:
            self.active_tests_received += 1
            if self.answer_active_test:
                session.send(ActiveTestResp(), seq)
        elif command == CommandId.TERMINATE:
            self.terminates_received += 1
            session.send(TerminateResp(), seq)
            return False
        else:
            log.warning("CMPP peer ignores command 0x%08X", command)
        return True

    # --- submits --------------------------------------------------------------------------

    def _on_submit(self, session: _Session, frame: Frame) -> None:
        self.submits_seen += 1
        self._outstanding += 1
        self.max_outstanding = max(self.max_outstanding, self._outstanding)
        if self.submit_delay > 0:
            self._spawn(self._answer_later(session, frame))
        else:
            self._answer_submit(session, frame)

    async def _answer_later(self, session: _Session, frame: Frame) -> None:
        await asyncio.sleep(self.submit_delay)
        self._answer_submit(session, frame)

    def _answer_submit(self, session: _Session, frame: Frame) -> None:
        self._outstanding -= 1
        try:
            submit = frame.decode()
            assert isinstance(submit, Submit)
            concat, payload = (None, submit.msg_content)
            if submit.tp_udhi:
                concat, payload = parse_udh(submit.msg_content)
        except CmppDecodeError as exc:
            log.info("CMPP peer refuses a SUBMIT: %s", exc)
            session.send(SubmitResp(0, SubmitResult.BAD_STRUCTURE), frame.sequence_id)
            return
        result = self._submit_result(submit)
        if result != SubmitResult.OK:
            session.send(SubmitResp(0, result), frame.sequence_id)
            return
        msg_id = self._msg_ids.next()
        session.send(SubmitResp(msg_id), frame.sequence_id)
        self.submits.append(submit)
        self._owners[msg_id] = (session.source_addr, submit)
        if len(self._owners) > _MAX_TRACKED_MSG_IDS:
            del self._owners[next(iter(self._owners))]
        if concat is not None and concat.total > 1:
            key = (session.source_addr, submit.dest_terminal_ids)
            parts = self._parts.add(key, concat, payload, msg_id)
            if parts is not None:
                data = b"".join(p for p, _ in parts)
                self._record(session, submit, data, tuple(m for _, m in parts))
        else:
            self._record(session, submit, payload, (msg_id,))
        if self.auto_report and submit.registered_delivery:
            self._spawn(self.send_report(msg_id))

    def _submit_result(self, submit: Submit) -> int:
        if self._failures:
            return self._failures.popleft()
        if self.max_submits_per_second is not None:
            now = asyncio.get_running_loop().time()
            while self._recent and now - self._recent[0] >= 1.0:
                self._recent.popleft()
            if len(self._recent) >= self.max_submits_per_second:
                return SubmitResult.FLOW_CONTROL
            self._recent.append(now)
        limit = 160 if submit.msg_fmt == MsgFmt.ASCII else 140
        if len(submit.msg_content) > limit:
            return SubmitResult.MSG_TOO_LONG
        return SubmitResult.OK

    def _record(self, session: _Session, submit: Submit, data: bytes, ids: tuple[int, ...]) -> None:
        try:
            text = decode_text(data, submit.msg_fmt)
        except CmppDecodeError:
            text = data.hex()  # binary content: keep it visible
        message = ReceivedMessage(
            source_addr=session.source_addr,
            dest=submit.dest_terminal_ids[0],
            text=text,
            msg_ids=ids,
            src_id=submit.src_id,
            service_id=submit.service_id,
            msg_fmt=submit.msg_fmt,
            registered_delivery=bool(submit.registered_delivery),
        )
        self.messages.append(message)
        log.info("CMPP peer got SMS to %s: %s", mask_msisdn(message.dest), message.text)
        self._spawn(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def _spawn(self, coro: Coroutine[Any, Any, object]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[object]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("CMPP peer background task failed: %r", task.exception())


async def _main() -> None:
    parser = argparse.ArgumentParser(description="Local CMPP 3.0 gateway that logs every SMS.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7890)
    parser.add_argument("--account", action="append", default=[], help="SOURCE_ADDR:SECRET")
    args = parser.parse_args()
    accounts = dict(a.split(":", 1) for a in args.account) or {"901234": "secret"}
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    async with CmppPeer(accounts, host=args.host, port=args.port) as peer:
        log.info("CMPP gateway on %s:%d for %s", peer.host, peer.port, ", ".join(accounts))
        await asyncio.Event().wait()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main())
