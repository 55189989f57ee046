"""A local SMTP server (aiosmtpd, on the app's own event loop) that keeps and logs what it
receives: the embedded default's mail sink."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from shared.broker import free_port

log = logging.getLogger("services.notify.sink")


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    to: list[str]
    subject: str
    body: str


def parse(content: bytes) -> EmailMessage:
    message = message_from_bytes(content, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        raw = content if isinstance(content, bytes) else content.encode()
        message = parse(raw)
        part = message.get_body(("plain",))
        body = part.get_content() if part is not None else ""
        mail = ReceivedMail(
            envelope.mail_from or "", list(envelope.rcpt_tos), str(message["Subject"]), body
        )
        self.sink.received.append(mail)
        log.info("mail to %s: %s", ", ".join(mail.to), mail.subject)
        return "250 OK"


@dataclass
class SmtpSink:
    host: str = "127.0.0.1"
    port: int = 0
    received: list[ReceivedMail] = field(default_factory=list, init=False)
    _server: asyncio.Server | None = field(default=None, init=False)

    async def start(self) -> None:
        if self.port == 0:
            self.port = free_port()
        loop = asyncio.get_running_loop()
        handler: Any = _Handler(self)
        self._server = await loop.create_server(
            lambda: SMTP(handler, hostname="notify-sink", enable_SMTPUTF8=True, loop=loop),
            self.host,
            self.port,
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
