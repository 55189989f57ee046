"""The running parts of one notify instance beyond the shared runtime (app.state.notify)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import Request

from services.notify.clock import Clock
from services.notify.dispatch import Dispatcher
from services.notify.inbound import Inbound
from services.notify.mail.transport import EmailTransport
from services.notify.settings import NotifySettings
from services.notify.sms.transport import SmsTransport
from services.notify.webhooks.sender import WebhookSender
from services.notify.webhooks.ssrf import Resolver


@dataclass
class Components:
    settings: NotifySettings
    clock: Clock
    resolver: Resolver
    sms: SmsTransport
    email: EmailTransport
    http: httpx.AsyncClient
    dispatcher: Dispatcher
    inbound: Inbound
    sender: WebhookSender
    sinks: dict[str, Any] = field(default_factory=dict)
    """The local SMPP and SMTP sinks when they run ("sms", "email")."""


def components(request: Request) -> Components:
    """Notify's components, as a FastAPI dependency."""
    parts: Components = request.app.state.notify
    return parts
