"""Notify app factory: transports (and, in the embedded default, local sinks), the
notification dispatcher and the webhook sender as timers."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

from fastapi import FastAPI

from services.notify.api import router
from services.notify.clock import Clock, SystemClock
from services.notify.cmpp import CmppClientConfig
from services.notify.components import Components
from services.notify.consumer import make_handlers
from services.notify.dispatch import Dispatcher
from services.notify.inbound import Inbound
from services.notify.mail.sink import SmtpSink
from services.notify.mail.transport import EmailTransport, SmtpConfig, SmtpTransport
from services.notify.models import Notification, WebhookAttempt, WebhookDelivery, platform
from services.notify.settings import NotifySettings
from services.notify.sms.cmpp import CmppTransport
from services.notify.sms.sink import SmppSink
from services.notify.sms.smpp import SmppConfig, SmppTransport
from services.notify.sms.transport import NoSms, OnInbound, OnReceipt, SmsTransport
from services.notify.webhooks.api import router as webhooks_router
from services.notify.webhooks.sender import WebhookSender
from services.notify.webhooks.ssrf import Resolver, delivery_client, resolve
from services.notify.webhooks.tmf import router as hub_router
from shared.retention import Retained
from shared.scheduler import every
from shared.service import Runtime, create_service_app

SmsFactory = Callable[[NotifySettings, OnReceipt, OnInbound], SmsTransport]


def notification_log(settings: NotifySettings) -> list[Retained]:
    """The delivery log the retention job prunes: SMS parts go with their notification
    (cascade); a webhook delivery goes once finished, after its attempts."""
    days = settings.notification_log_retention_days
    return [
        Retained(Notification, "created_at", days),
        Retained(WebhookAttempt, "attempted_at", days),
        Retained(WebhookDelivery, "finished_at", days),
    ]


def sms_transport(
    settings: NotifySettings, on_receipt: OnReceipt, on_inbound: OnInbound
) -> SmsTransport:
    """The configured SMS transport: SMPP 3.4, CMPP 3.0 or none."""
    s = settings
    if s.sms_transport == "smpp":
        config = SmppConfig(
            host=s.smpp_host,
            port=s.smpp_port,
            system_id=s.smpp_system_id,
            password=s.smpp_password,
            system_type=s.smpp_system_type,
            source_addr=s.smpp_source_addr,
            window=s.smpp_window,
            submit_timeout_s=s.smpp_submit_timeout_s,
            connect_timeout_s=s.smpp_connect_timeout_s,
            reconnect_initial_s=s.smpp_reconnect_initial_s,
            reconnect_max_s=s.smpp_reconnect_max_s,
        )
        return SmppTransport(config, on_receipt, on_inbound)
    if s.sms_transport == "cmpp":
        cmpp = CmppClientConfig(
            host=s.cmpp_host,
            port=s.cmpp_port,
            source_addr=s.cmpp_sp_id,
            secret=s.cmpp_secret,
            src_id=s.cmpp_src_id,
            service_id=s.cmpp_service_id,
            window=s.cmpp_window,
            reconnect_max_delay=s.smpp_reconnect_max_s,
        )
        return CmppTransport(cmpp, on_receipt, on_inbound, reconnect_max_s=s.smpp_reconnect_max_s)
    return NoSms()


def _show_sink_log() -> None:
    """Sink lines are for people watching `make run`: print them even at warning level."""
    sink_log = logging.getLogger("services.notify.sink")
    if not any(getattr(h, "notify_sink", False) for h in sink_log.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("[notify sink] %(message)s"))
        handler.notify_sink = True  # type: ignore[attr-defined]
        sink_log.addHandler(handler)
        sink_log.setLevel(logging.INFO)
        sink_log.propagate = False


async def _start_sinks(settings: NotifySettings) -> tuple[NotifySettings, dict[str, Any]]:
    """Start the local SMPP and SMTP sinks and point the transports at them."""
    _show_sink_log()
    smsc = SmppSink(
        settings.sink_host, settings.sink_smpp_port, receipt_delay_s=settings.sink_receipt_delay_s
    )
    mail = SmtpSink(settings.sink_host, settings.sink_smtp_port)
    await smsc.start()
    await mail.start()
    pointed = settings.model_copy(
        update={
            "smpp_host": smsc.host,
            "smpp_port": smsc.port,
            "smtp_host": mail.host,
            "smtp_port": mail.port,
            "smtp_tls": "none",
        }
    )
    return pointed, {"sms": smsc, "email": mail}


def create_app(
    settings: NotifySettings | None = None,
    *,
    clock: Clock | None = None,
    resolver: Resolver = resolve,
    sms: SmsFactory = sms_transport,
    email: EmailTransport | None = None,
) -> FastAPI:
    settings = settings or NotifySettings()

    async def start(rt: Runtime) -> None:
        s, sinks = await _start_sinks(settings) if settings.sinks_on else (settings, {})
        inbound = Inbound(rt.db, dedup_window_s=settings.inbound_dedup_window_s)
        transport = sms(s, inbound.receipt, inbound.message)
        mailer = email or SmtpTransport(
            SmtpConfig(
                s.smtp_host,
                s.smtp_port,
                s.mail_from,
                s.smtp_username,
                s.smtp_password,
                s.smtp_tls,
                s.smtp_timeout_s,
            )
        )
        used_clock = clock or SystemClock()
        http = delivery_client(
            timeout_s=s.webhook_timeout_s,
            max_connections=s.webhook_concurrency,
            allow_private=s.private_targets_allowed,
        )
        parts = Components(
            settings=s,
            clock=used_clock,
            resolver=resolver,
            sms=transport,
            email=mailer,
            http=http,
            dispatcher=Dispatcher(rt.db, s, transport, mailer, used_clock),
            inbound=inbound,
            sender=WebhookSender(rt.db, s, http, used_clock, resolver=resolver),
            sinks=sinks,
        )
        app.state.notify = parts
        await transport.start()

        async def dispatch(_: Runtime) -> int:
            return await parts.dispatcher.tick()

        async def deliver(_: Runtime) -> int:
            return await parts.sender.tick()

        # Woken by the commit that records a message; retries and leases by `dispatch_idle_s`.
        for name, tick in (("notification dispatcher", dispatch), ("webhook sender", deliver)):
            every(rt, name, tick, interval_s=s.dispatch_interval_s, idle_s=s.dispatch_idle_s)

    app = create_service_app(
        platform=platform,
        settings=settings,
        title="Notify",
        description="Sends SMS (SMPP 3.4) and e-mail (SMTP) to customers and departments and "
        "signed webhooks (Standard Webhooks, TMF621 hub) to partners; records every "
        "notification before sending it and sends it at most once.",
        routers=[router, webhooks_router, hub_router],
        handlers=make_handlers(settings),
        on_start=start,
        retained=notification_log(settings),
    )
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: FastAPI) -> AsyncIterator[None]:
        async with inner(a):
            try:
                yield
            finally:
                await _stop(a)

    app.router.lifespan_context = lifespan
    return app


async def _stop(app: FastAPI) -> None:
    parts: Components | None = getattr(app.state, "notify", None)
    if parts is None:
        return
    with suppress(Exception):
        await parts.sms.stop()
    await parts.http.aclose()
    for sink in parts.sinks.values():
        with suppress(Exception):
            await sink.stop()
