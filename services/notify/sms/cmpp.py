"""SMS over CMPP 3.0 (China Mobile's ISMG protocol): the SmsTransport around
services/notify/cmpp's client, which does the codec, windowing, ACTIVE_TEST and reconnects.

This adapter starts the client in the background (the gateway may be down when notify
starts; a refused login is retried slowly and logged), maps Msg_Ids to provider ids, reports to
receipts and replies to inbound messages, and classifies failures so that nothing the gateway
may have accepted is sent twice. A long message's segments are submitted in order by the
client; a failure stops it and carries the accepted segments (recorded as the partial send),
so segments are never re-sent one by one while another failed; a timeout or a lost link is an
unknown outcome (services/notify/outcomes.py decides about a re-send of the whole message).
"""

from __future__ import annotations

import asyncio
import logging
import random
from contextlib import suppress
from datetime import UTC, datetime

from services.notify.cmpp import (
    CmppAuthError,
    CmppClient,
    CmppClientConfig,
    CmppConnectionError,
    CmppError,
    CmppSubmitError,
    CmppTimeoutError,
    SubmitResult,
)
from services.notify.sms.transport import (
    DeliveryReceipt,
    InboundSms,
    OnInbound,
    OnReceipt,
    SendError,
)

log = logging.getLogger(__name__)
RETRYABLE_RESULTS = {SubmitResult.FLOW_CONTROL}
NOT_FINAL = {"ACCEPTD", "ENROUTE"}


class CmppTransport:
    """The SmsTransport over one CMPP 3.0 long connection."""

    def __init__(
        self,
        config: CmppClientConfig,
        on_receipt: OnReceipt,
        on_inbound: OnInbound,
        *,
        reconnect_max_s: float = 60.0,
    ) -> None:
        self.on_receipt = on_receipt
        self.on_inbound = on_inbound
        self.reconnect_max_s = reconnect_max_s
        self.client = CmppClient(config, on_report=self._report, on_message=self._message)
        self._starting: asyncio.Task[None] | None = None
        self._started = asyncio.Event()

    async def start(self) -> None:
        self._starting = asyncio.create_task(self._start(), name="cmpp start")

    async def _start(self) -> None:
        delay = self.client.config.reconnect_initial_delay
        while True:
            try:
                await self.client.start()
                self._started.set()
                return
            except CmppAuthError as exc:
                log.error("CMPP login refused (%s); check the SP id and secret", exc)
                delay = self.reconnect_max_s
            except (OSError, CmppError, TimeoutError) as exc:
                log.warning("CMPP gateway not reachable: %s", exc)
                delay = min(delay * 2, self.reconnect_max_s)
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))

    async def stop(self) -> None:
        if self._starting is not None:
            self._starting.cancel()
            with suppress(asyncio.CancelledError):
                await self._starting
        if self._started.is_set():
            with suppress(Exception):
                await self.client.close()

    async def send(self, destination: str, text: str) -> list[str]:
        within = self.client.config.wait_connected_timeout
        try:
            await asyncio.wait_for(self._started.wait(), within)
            await asyncio.wait_for(self.client.wait_connected(), within)
        except (TimeoutError, CmppConnectionError) as exc:
            raise SendError("CMPP gateway not connected", retryable=True) from exc
        try:
            msg_ids = await self.client.submit(destination.lstrip("+"), text)
        except CmppSubmitError as exc:
            accepted = [str(i) for i in exc.msg_ids]
            raise SendError(
                f"CMPP_SUBMIT refused: Result {exc.code}",
                retryable=exc.code in RETRYABLE_RESULTS and not accepted,
                accepted_ids=accepted,
            ) from exc
        except (CmppTimeoutError, CmppConnectionError) as exc:
            # The link broke or stayed silent mid-submit: the gateway may have it already.
            accepted = [str(i) for i in exc.msg_ids]
            raise SendError(
                f"CMPP: {exc}; not resent", retryable=False, accepted_ids=accepted, uncertain=True
            ) from exc
        except CmppError as exc:
            raise SendError(f"CMPP: {exc}; not resent", retryable=False) from exc
        return [str(i) for i in msg_ids]

    async def _report(self, msg_id: int, stat: str, dest: str) -> None:
        # CMPP reports DELIVRD, the SMPP-style states, or a gateway error code (MK:0001, ...).
        delivered = True if stat == "DELIVRD" else None if stat in NOT_FINAL else False
        await self.on_receipt(DeliveryReceipt(str(msg_id), stat, delivered))

    async def _message(self, source: str, text: str) -> None:
        await self.on_inbound(InboundSms(source, text, datetime.now(UTC)))
