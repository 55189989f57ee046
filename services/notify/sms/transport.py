"""The SMS transport interface notify sends through (SMPP today, CMPP next)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class SendError(Exception):
    """A message was not (fully) handed over. `retryable` only when nothing of it could have
    reached the gateway, so a retry cannot make the customer receive it twice. `uncertain`
    when it may have reached the gateway (written, then no answer): the dispatcher decides
    whether such a message is worth the risk of a second copy (see NotifySettings)."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        accepted_ids: list[str] | None = None,
        uncertain: bool = False,
    ):
        super().__init__(message)
        self.retryable = retryable
        self.accepted_ids = accepted_ids or []
        self.uncertain = uncertain


@dataclass(frozen=True)
class DeliveryReceipt:
    """The gateway's final word on one submitted segment."""

    provider_message_id: str
    stat: str
    """DELIVRD, EXPIRED, UNDELIV, REJECTD, ... (SMPP 3.4 appendix B)"""
    delivered: bool | None
    """True delivered, False failed for good, None not final yet (ENROUTE, ACCEPTD)."""
    error: str | None = None


@dataclass(frozen=True)
class InboundSms:
    """A mobile-originated message (e.g. a survey reply)."""

    source: str
    """The sender's number as the gateway gave it (normalised by the receiver)."""
    text: str
    received_at: datetime
    key: str | None = None
    """The gateway message's identity (same on a re-delivery): the reply is applied once."""


OnReceipt = Callable[[DeliveryReceipt], Awaitable[None]]
OnInbound = Callable[[InboundSms], Awaitable[None]]


class SmsTransport(Protocol):
    """Sends SMS and reports receipts and inbound messages through the callbacks it was
    built with. `send` returns the gateway's message id of each segment, in order."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, destination: str, text: str) -> list[str]: ...


class NoSms:
    """A transport for deployments without SMS: every send fails (retryable)."""

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(self, destination: str, text: str) -> list[str]:
        raise SendError("no SMS transport configured", retryable=True)
