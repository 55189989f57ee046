"""The embedded default: notify starts its own SMPP and SMTP sinks, sends to them, and shows
what it sent (GET /v1/notifications, and the sinks' log lines)."""

from __future__ import annotations

import logging
from datetime import time
from typing import Any

import pytest

from services.notify.app import create_app
from services.notify.mail.sink import SmtpSink
from services.notify.settings import NotifySettings
from services.notify.sms.sink import SmppSink
from shared.broker import Broker
from tests.builders import eventually, running, settings_for
from tests.conftest import DbTarget
from tests.integration.notify import events as ev
from tests.integration.notify.conftest import STAFF, under_test


async def test_the_embedded_default_sends_to_local_sinks_and_shows_it(
    db_target: DbTarget, broker: Broker, capsys: pytest.CaptureFixture[str]
) -> None:
    settings: NotifySettings = settings_for(
        NotifySettings,
        db_target,
        broker.bootstrap,
        consumers_enabled=False,
        quiet_hours_start=time(0),  # no quiet hours: the test runs at any hour
        quiet_hours_end=time(0),
    )
    assert settings.env == "embedded" and settings.sinks_on
    app = create_app(settings)
    async with running(app) as (client, rt):
        parts = app.state.notify
        smsc, mail = parts.sinks["sms"], parts.sinks["email"]
        assert isinstance(smsc, SmppSink) and isinstance(mail, SmtpSink)
        notify = under_test(app, client, rt)
        await notify.apply(ev.received("EB-1"), ev.clocks("EB-1"), ev.sla_breached("EB-1"))

        async def shown() -> list[Any] | None:
            r = await client.get("/v1/notifications", params={"ticket_no": "EB-1"}, headers=STAFF)
            items = r.json()["items"]
            done = {n["channel"]: n["status"] for n in items}
            return items if done == {"sms": "delivered", "email": "sent"} else None

        items = await eventually(shown, within=10)
        sms = next(n for n in items if n["channel"] == "sms")
        assert sms["recipient"] == "138****8000" and "投诉编码：EB-1" in sms["body"]
        assert smsc.messages == [("8613800138000", sms["body"])]
        assert mail.received[0].subject.startswith("【时限超时】投诉EB-1")
        docs = await client.get("/notify/openapi.json")
        assert docs.status_code == 200 and "/tmf-api/troubleTicket/v4/hub" in docs.json()["paths"]
    out = capsys.readouterr().out
    assert "[notify sink] SMS to 138****8000: 【中国移动】" in out
    sink_log = logging.getLogger("services.notify.sink")
    sink_log.handlers = [h for h in sink_log.handlers if not getattr(h, "notify_sink", False)]
