"""E-mail over SMTP with aiosmtplib: one connection per message (internal volumes are small)."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Protocol

import aiosmtplib

from services.notify.sms.transport import SendError


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    mail_from: str
    username: str | None = None
    password: str | None = None
    tls: str = "none"  # none | starttls | tls
    timeout_s: float = 10.0


class EmailTransport(Protocol):
    async def send(self, to: str, subject: str, body: str) -> str: ...


def build_message(mail_from: str, to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain=mail_from.rpartition("@")[2] or None)
    message.set_content(body, charset="utf-8")
    return message


class SmtpTransport:
    """Sends one message per call; returns its Message-ID."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    async def send(self, to: str, subject: str, body: str) -> str:
        c = self.config
        message = build_message(c.mail_from, to, subject, body)
        try:
            await aiosmtplib.send(
                message,
                hostname=c.host,
                port=c.port,
                username=c.username,
                password=c.password,
                use_tls=c.tls == "tls",
                start_tls=True if c.tls == "starttls" else False if c.tls == "none" else None,
                timeout=c.timeout_s,
            )
        except aiosmtplib.SMTPResponseException as exc:
            # 4xx: try later; 5xx: the server refused it for good.
            raise SendError(f"SMTP {exc.code}: {exc.message}", retryable=exc.code < 500) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise SendError(f"SMTP: {exc}", retryable=True) from exc
        return str(message["Message-ID"])
