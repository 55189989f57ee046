"""E-mail over SMTP with aiosmtplib: one connection per message (internal volumes are small)."""

from __future__ import annotations

from contextlib import suppress
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
    async def send(
        self, to: str, subject: str, body: str, *, message_id: str | None = None
    ) -> str: ...


def new_message_id(mail_from: str) -> str:
    """A Message-ID in the sender's domain (recorded before the first send)."""
    return make_msgid(domain=mail_from.rpartition("@")[2] or None)


def build_message(
    mail_from: str, to: str, subject: str, body: str, message_id: str | None = None
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id or new_message_id(mail_from)
    message.set_content(body, charset="utf-8")
    return message


class SmtpTransport:
    """Sends one message per connection; returns its Message-ID.

    The envelope (connect, EHLO, MAIL, RCPT) is retryable when it fails: nothing was handed
    over. Once DATA is under way, a lost connection or a timeout leaves the outcome unknown
    (the server may have queued the message): that SendError is `uncertain`, and a re-send
    must carry the same Message-ID (the dispatcher records it before the first send)."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    async def send(self, to: str, subject: str, body: str, *, message_id: str | None = None) -> str:
        c = self.config
        message = build_message(c.mail_from, to, subject, body, message_id)
        smtp = aiosmtplib.SMTP(
            hostname=c.host,
            port=c.port,
            username=c.username,
            password=c.password,
            use_tls=c.tls == "tls",
            start_tls=True if c.tls == "starttls" else False if c.tls == "none" else None,
            timeout=c.timeout_s,
        )
        in_data = False
        try:
            await smtp.connect()
            await smtp.mail(c.mail_from)
            await smtp.rcpt(to)
            in_data = True
            await smtp.data(message.as_bytes())
            with suppress(Exception):
                await smtp.quit()
        except aiosmtplib.SMTPResponseException as exc:
            # An answer: 4xx try later, 5xx refused for good (either way, not taken).
            raise SendError(f"SMTP {exc.code}: {exc.message}", retryable=exc.code < 500) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            if in_data:
                raise SendError(
                    f"SMTP: {exc or type(exc).__name__} during DATA; outcome unknown "
                    f"(Message-ID {message['Message-ID']})",
                    retryable=False,
                    uncertain=True,
                ) from exc
            raise SendError(f"SMTP: {exc or type(exc).__name__}", retryable=True) from exc
        finally:
            with suppress(Exception):
                smtp.close()
        return str(message["Message-ID"])
