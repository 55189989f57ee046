"""SMS over SMPP 3.4 with `smpp34` (Rust/tokio core, asyncio API).

One transceiver bind per replica: submits and receipts/replies share the session. The core
windows outstanding submit_sm PDUs (`window`), answers deliver_sm and sends enquire_link
every 30 s; this module adds the bind supervision (reconnect with exponential backoff and
jitter), segmenting (UCS-2 + concatenation UDH), the receipt/reply split and the error
classification that keeps a retry from sending anything twice.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime

import smpp34

from services.notify.sms import encoding
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


def destination(e164: str) -> str:
    """International digits without '+' (TON 1, NPI 1)."""
    return e164.lstrip("+")


class SmppTransport:
    """The SmsTransport over one SMPP transceiver bind."""

    def __init__(self, config: SmppConfig, on_receipt: OnReceipt, on_inbound: OnInbound):
        self.config = config
        self.on_receipt = on_receipt
        self.on_inbound = on_inbound
        self._window = asyncio.Semaphore(config.window)
        self._smsc: smpp34.Smsc | None = None
        self._client: smpp34.Client | None = None
        self._bound = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._refs = itertools.count(random.randrange(256))
        self.binds = 0
        """How many times a bind succeeded (reconnects show here)."""

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="smpp bind")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        if self._client is not None:
            with suppress(Exception):
                await asyncio.wait_for(self._client.stop(), 2)

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
        parts = encoding.segments(text, next(self._refs))
        ids: list[str] = []
        for part in parts:
            ids.append(await self._submit(destination(destination_e164), part, ids))
        return ids

    async def _submit(self, dest: str, part: encoding.Segment, accepted: list[str]) -> str:
        smsc = self._smsc
        if smsc is None:
            raise SendError("SMPP bind lost", retryable=not accepted, accepted_ids=accepted)
        async with self._window:
            try:
                resp = await asyncio.wait_for(
                    smsc.submit_sm(
                        dest,
                        part.short_message,
                        source_addr=self.config.source_addr,
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
                    "no submit_sm_resp in time; not resent", retryable=False, accepted_ids=accepted
                ) from exc
            except smpp34.SmppError as exc:
                # Raised before the PDU is written (the session is down).
                raise SendError(
                    f"SMPP session error: {exc}", retryable=not accepted, accepted_ids=accepted
                ) from exc
        if not resp.is_success or not resp.message_id:
            status = resp.command_status
            raise SendError(
                f"submit_sm rejected: command_status {status:#010x}",
                retryable=status in RETRYABLE_STATUS and not accepted,
                accepted_ids=accepted,
            )
        return resp.message_id

    # --- the bind and inbound traffic --------------------------------------------------------
    async def _run(self) -> None:
        delay = self.config.reconnect_initial_s
        while True:
            client = smpp34.Client(
                host=self.config.host,
                port=self.config.port,
                system_id=self.config.system_id,
                password=self.config.password,
                bind_type="TRX",
                system_type=self.config.system_type,
                window_size=self.config.window,
                connect_timeout_ms=int(self.config.connect_timeout_s * 1000),
            )
            try:
                smsc = await client.connect()
            except smpp34.SmppError as exc:
                log.warning(
                    "SMPP bind to %s:%s failed: %s", self.config.host, self.config.port, exc
                )
                await asyncio.sleep(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 2, self.config.reconnect_max_s)
                continue
            delay = self.config.reconnect_initial_s
            self.binds += 1
            self._client, self._smsc = client, smsc
            self._bound.set()
            try:
                await self._read(smsc)
            finally:
                self._bound.clear()
                self._smsc = None
                with suppress(Exception):
                    await asyncio.wait_for(client.stop(), 2)
                self._client = None
            log.warning("SMPP session ended; rebinding")

    async def _read(self, smsc: smpp34.Smsc) -> None:
        while True:
            event = await smsc.next()
            if isinstance(event, smpp34.Disconnected):
                return
            try:
                await self._deliver(event)
            except Exception:
                log.exception("handling a deliver_sm failed")

    async def _deliver(self, event: smpp34.DeliverSmEvent) -> None:
        if event.esm_class & encoding.ESM_RECEIPT:
            text = encoding.decode_text(event.data_coding, event.short_message)
            receipt = parse_receipt(text, {t.tag: t.value for t in event.tlvs})
            if receipt is not None:
                await self.on_receipt(receipt)
            return
        concat, payload = encoding.split_udh(event.esm_class, event.short_message)
        del concat  # survey replies are one segment; longer replies are read part by part
        await self.on_inbound(
            InboundSms(
                source=event.source_addr,
                text=encoding.decode_text(event.data_coding, payload),
                received_at=datetime.now(UTC),
            )
        )
