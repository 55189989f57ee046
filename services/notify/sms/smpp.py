"""SMS over SMPP 3.4: one transceiver bind per replica (services/notify/sms/esme.py), so
submits and receipts/replies share the session.

This module adds the bind supervision (reconnect with exponential backoff and jitter), the
submit window, segmenting (UCS-2 + concatenation UDH), the receipt/reply split and the error
classification that keeps a retry from sending anything twice. A deliver_sm is answered only
after its receipt or reply was stored (the callbacks returned): if storing fails, the SMSC
is told so (ESME_RX_T_APPN) and delivers it again.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import random
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime

import smpp34

from services.notify.sms import encoding
from services.notify.sms.esme import ESME_ROK, EsmeSession, SessionClosed
from services.notify.sms.receipts import parse_receipt
from services.notify.sms.transport import InboundSms, OnInbound, OnReceipt, SendError

log = logging.getLogger(__name__)
# command_status values that mean "not taken, try later": nothing reached the handset.
RETRYABLE_STATUS = {0x14, 0x58, 0x08}  # ESME_RMSGQFUL, ESME_RTHROTTLED, ESME_RSYSERR


@dataclass(frozen=True)
class SmppConfig:
    host: str
    port: int
    system_id: str
    password: str
    system_type: str = ""
    source_addr: str = "10086"
    window: int = 10
    submit_timeout_s: float = 10.0
    connect_timeout_s: float = 5.0
    reconnect_initial_s: float = 0.5
    reconnect_max_s: float = 30.0
    enquire_link_s: float = 30.0


def destination(e164: str) -> str:
    """International digits without '+' (TON 1, NPI 1)."""
    return e164.lstrip("+")


def inbound_key(pdu: smpp34.DeliverSm) -> str:
    """The identity of a mobile-originated deliver_sm: an SMSC that re-delivers it (our answer
    was lost) sends the same addresses, coding and bytes. SMPP 3.4 gives MO no message id."""
    digest = hashlib.sha256()
    for part in (pdu.source_addr, pdu.destination_addr, str(pdu.data_coding)):
        digest.update(part.encode() + b"\x00")
    digest.update(pdu.short_message)
    for tlv in pdu.tlvs:
        digest.update(tlv.tag.to_bytes(2, "big") + tlv.value)
    return "smpp:" + digest.hexdigest()[:40]


class SmppTransport:
    """The SmsTransport over one SMPP transceiver bind."""

    def __init__(self, config: SmppConfig, on_receipt: OnReceipt, on_inbound: OnInbound):
        self.config = config
        self.on_receipt = on_receipt
        self.on_inbound = on_inbound
        self._window = asyncio.Semaphore(config.window)
        self._session: EsmeSession | None = None
        self._bound = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._refs = itertools.count(random.randrange(256))
        self._stopping = False
        self.binds = 0
        """How many times a bind succeeded (reconnects show here)."""

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="smpp bind")

    async def stop(self) -> None:
        """Unbind and end the bind loop. Not by cancellation alone: asyncio.wait_for on
        Python 3.11 can swallow a cancel that lands as its inner await completes, so the loop
        also checks `_stopping` and closing the session ends its read loop."""
        self._stopping = True
        session = self._session
        if session is not None:
            with suppress(Exception):
                await asyncio.wait_for(session.unbind(), 2)
            await session.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=5)

    async def wait_bound(self, within_s: float) -> bool:
        try:
            await asyncio.wait_for(self._bound.wait(), within_s)
            return True
        except TimeoutError:
            return False

    # --- sending ---------------------------------------------------------------------------
    async def send(self, destination_e164: str, text: str) -> list[str]:
        if not await self.wait_bound(self.config.connect_timeout_s):
            raise SendError("SMPP not bound", retryable=True)
        parts = encoding.segments(text, next(self._refs) % 256)
        ids: list[str] = []
        for part in parts:
            ids.append(await self._submit(destination(destination_e164), part, ids))
        return ids

    async def _submit(self, dest: str, part: encoding.Segment, accepted: list[str]) -> str:
        session = self._session
        if session is None:
            raise SendError("SMPP bind lost", retryable=not accepted, accepted_ids=accepted)
        async with self._window:
            try:
                status, message_id = await asyncio.wait_for(
                    session.submit(
                        source_addr=self.config.source_addr,
                        destination_addr=dest,
                        short_message=part.short_message,
                        dest_addr_ton=1,
                        dest_addr_npi=1,
                        esm_class=part.esm_class,
                        data_coding=part.data_coding,
                        registered_delivery=1,
                    ),
                    self.config.submit_timeout_s,
                )
            except TimeoutError as exc:
                # The PDU may have reached the SMSC: resending could deliver it twice.
                raise SendError(
                    "no submit_sm_resp in time; not resent",
                    retryable=False,
                    accepted_ids=accepted,
                    uncertain=True,
                ) from exc
            except SessionClosed as exc:
                # Written and then the session ended: the SMSC may have taken it.
                raise SendError(
                    f"SMPP session ended: {exc}",
                    retryable=not accepted and not exc.written,
                    accepted_ids=accepted,
                    uncertain=exc.written,
                ) from exc
        if status != ESME_ROK or not message_id:
            raise SendError(
                f"submit_sm rejected: command_status {status:#010x}",
                retryable=status in RETRYABLE_STATUS and not accepted,
                accepted_ids=accepted,
            )
        return message_id

    # --- the bind and inbound traffic --------------------------------------------------------
    async def _run(self) -> None:
        delay = self.config.reconnect_initial_s
        c = self.config
        while not self._stopping:
            try:
                session = await EsmeSession.open(
                    c.host,
                    c.port,
                    system_id=c.system_id,
                    password=c.password,
                    system_type=c.system_type,
                    on_deliver=self._deliver,
                    connect_timeout_s=c.connect_timeout_s,
                    response_timeout_s=max(c.submit_timeout_s, 1.0) * 2,
                    enquire_link_s=c.enquire_link_s,
                )
            except (OSError, TimeoutError) as exc:
                log.warning("SMPP bind to %s:%s failed: %s", c.host, c.port, exc)
                await asyncio.sleep(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 2, c.reconnect_max_s)
                continue
            if self._stopping:
                await session.close()
                return
            delay = c.reconnect_initial_s
            self.binds += 1
            self._session = session
            self._bound.set()
            try:
                await session.run()
            finally:
                self._bound.clear()
                self._session = None
                await session.close()
            if not self._stopping:
                log.warning("SMPP session ended; rebinding")

    async def _deliver(self, pdu: smpp34.DeliverSm) -> int:
        """Store a receipt or a reply; the deliver_sm is answered with what this returns (an
        exception makes the session answer "try again")."""
        if pdu.esm_class & encoding.ESM_RECEIPT:
            text = encoding.decode_text(pdu.data_coding, pdu.short_message)
            receipt = parse_receipt(text, {t.tag: t.value for t in pdu.tlvs})
            if receipt is not None:
                await self.on_receipt(receipt)
            return ESME_ROK
        concat, payload = encoding.split_udh(pdu.esm_class, pdu.short_message)
        del concat  # survey replies are one segment; longer replies are read part by part
        await self.on_inbound(
            InboundSms(
                source=pdu.source_addr,
                text=encoding.decode_text(pdu.data_coding, payload),
                received_at=datetime.now(UTC),
                key=inbound_key(pdu),
            )
        )
        return ESME_ROK
