"""A local SMSC (SMPP 3.4 server on `smpp34`): accepts binds and submits, reassembles long
messages, logs what a handset would show, answers with delivery receipts, and can send
mobile-originated messages (e.g. a customer replying "1"). The embedded default's SMS sink
and the tests' peer."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Coroutine
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import smpp34

from services.notify.sms import encoding
from services.notify.sms.receipts import TLV_MESSAGE_STATE, TLV_RECEIPTED_MESSAGE_ID, receipt_text
from shared.broker import free_port
from shared.phone import mask_msisdn

log = logging.getLogger("services.notify.sink")
_STATE_CODES = {"DELIVRD": 2, "EXPIRED": 3, "UNDELIV": 5, "REJECTD": 8}


def _masked(address: str) -> str | None:
    return mask_msisdn("+" + address if address.startswith("86") else address)


@dataclass(frozen=True)
class ReceivedPdu:
    """One submit_sm as it arrived (raw, for wire-level assertions)."""

    session_id: str
    destination: str
    source: str
    esm_class: int
    data_coding: int
    registered_delivery: int
    short_message: bytes
    message_id: str


@dataclass
class SmppSink:
    """An SMSC on `host:port` (0: a free port, set on start)."""

    host: str = "127.0.0.1"
    port: int = 0
    receipt_delay_s: float | None = 0.2
    """None: no receipts; otherwise a receipt per segment after this delay."""
    receipt_stat: str = "DELIVRD"
    reject_status: int | None = None
    """Answer every submit with this command_status (tests of gateway errors)."""
    response_delay_s: float = 0.0
    """Answer each submit_sm after this long, like a gateway across a network (benchmarks)."""
    redeliver_after_s: float = 0.2
    """A deliver_sm the ESME did not take (an error status, or no answer) is delivered again
    after this long, as an SMSC does within its validity period."""
    redeliver_attempts: int = 20
    mo_answers: list[int] = field(default_factory=list, init=False)
    """The command_status of every deliver_sm_resp to a mobile-originated message, in order."""
    receipt_answers: list[int] = field(default_factory=list, init=False)
    pdus: list[ReceivedPdu] = field(default_factory=list, init=False)
    messages: list[tuple[str, str]] = field(default_factory=list, init=False)
    """(destination, whole text) once all segments arrived."""
    sessions: dict[str, smpp34.Esme] = field(default_factory=dict, init=False)
    bound: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _server: smpp34.Server | None = field(default=None, init=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set, init=False)
    _reassembler: encoding.Reassembler = field(default_factory=encoding.Reassembler, init=False)

    async def start(self) -> None:
        if self.port == 0:
            self.port = free_port()
        self._server = smpp34.Server(host=self.host, port=self.port, system_id="NOTIFY-SINK")
        await self._server.start()
        self._task = asyncio.create_task(self._serve(), name="smpp sink")

    async def stop(self) -> None:
        for task in [*self._tasks, *([self._task] if self._task else [])]:
            task.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await task
        self.sessions.clear()  # their clients are gone: an unbind would wait for its timeout
        if self._server is not None:
            await self._server.stop()

    async def drop_sessions(self) -> None:
        """Unbind every ESME (what an SMSC restart looks like to the client)."""
        sessions, self.sessions = list(self.sessions.values()), {}
        self.bound.clear()
        for esme in sessions:
            with suppress(Exception):
                await asyncio.wait_for(esme.unbind(), 2)

    async def send_mo(self, source: str, text: str, *, to: str = "10086") -> None:
        """A customer's SMS to us, delivered until a bound session takes it."""
        coding = encoding.DC_DEFAULT if text.isascii() else encoding.DC_UCS2
        body = text.encode("ascii" if coding == encoding.DC_DEFAULT else "utf-16-be")
        answers = await self._deliver(to, body, source_addr=source, data_coding=coding)
        self.mo_answers.extend(answers)
        if not answers or answers[-1] != 0:  # ESME_ROK
            raise RuntimeError("no bound session accepted the MO message")

    async def _deliver(
        self, to: str, body: bytes, *, prefer: str | None = None, **kw: Any
    ) -> list[int]:
        """deliver_sm until an ESME answers ESME_ROK: an error answer or a lost session means
        again after `redeliver_after_s` (over the preferred session first). The answers."""
        answers: list[int] = []
        for _ in range(self.redeliver_attempts):
            order = sorted(self.sessions.items(), key=lambda item: item[0] != prefer)
            for _, esme in order:
                try:
                    resp = await esme.deliver_sm(to, body, **kw)
                except smpp34.SmppError:
                    continue
                answers.append(resp.command_status)
                if resp.is_success:
                    return answers
            await asyncio.sleep(self.redeliver_after_s)
        return answers

    async def _serve(self) -> None:
        assert self._server is not None
        while True:
            event = await self._server.next()
            if isinstance(event, smpp34.Esme):
                self.sessions[event.session_id] = event
                self.bound.set()
            elif isinstance(event, smpp34.Unbound):
                self.sessions.pop(event.session_id, None)
                if not self.sessions:
                    self.bound.clear()
            elif self.response_delay_s:
                self._spawn(self._answer_later(event))
            else:
                self._submitted(event)

    def _submitted(self, event: smpp34.SubmitSmEvent) -> None:
        if self.reject_status is not None:
            event.reject(self.reject_status)
            return
        message_id = uuid.uuid4().hex[:20]
        event.accept(message_id=message_id)
        self.pdus.append(
            ReceivedPdu(
                event.session_id,
                event.destination_addr,
                event.source_addr,
                event.esm_class,
                event.data_coding,
                event.registered_delivery,
                event.short_message,
                message_id,
            )
        )
        text = self._reassembler.add(
            event.destination_addr, event.esm_class, event.data_coding, event.short_message
        )
        if text is not None:
            self.messages.append((event.destination_addr, text))
            log.info("SMS to %s: %s", _masked(event.destination_addr), text)
        if self.receipt_delay_s is not None and event.registered_delivery & 0x01:
            self._spawn(self._receipt(event.session_id, event, message_id))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer_later(self, event: smpp34.SubmitSmEvent) -> None:
        await asyncio.sleep(self.response_delay_s)
        self._submitted(event)

    async def _receipt(self, session_id: str, event: smpp34.SubmitSmEvent, message_id: str) -> None:
        await asyncio.sleep(self.receipt_delay_s or 0)
        stamp = datetime.now(UTC).strftime("%y%m%d%H%M")
        state = _STATE_CODES.get(self.receipt_stat, 7)
        self.receipt_answers += await self._deliver(
            event.source_addr,
            receipt_text(message_id, self.receipt_stat, stamp=stamp).encode("ascii"),
            prefer=session_id,
            source_addr=event.destination_addr,
            esm_class=encoding.ESM_RECEIPT,
            tlvs=[
                smpp34.Tlv(TLV_RECEIPTED_MESSAGE_ID, message_id.encode("ascii") + b"\x00"),
                smpp34.Tlv(TLV_MESSAGE_STATE, bytes([state])),
            ],
        )
