"""Webhooks only to the entitled: a partner hears about its own tickets, bodies are minimised,
the TMF hub query filters, and one partner's bad endpoint never holds up another's."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from services.notify.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from services.notify.webhooks.subscriptions import new_secret
from shared.broker import free_port
from tests.builders import auth, eventually
from tests.integration.notify import events as ev
from tests.integration.notify.conftest import OPS, NotifyFactory, Receiver

A, B = "partner-a", "partner-b"
PARTNER_A, PARTNER_B = auth("partner", sub=A), auth("partner", sub=B)
ALL_FORMS = (
    "客户姓名：张三丰，身份证110105199001011234，电话138-0013-8000，"
    "或138 0013 8000，或+86 138 0013 8000，或１３８００１３８０００，客户张三丰很着急"
)


async def _subscribe(notify: Any, url: str, headers: dict[str, str]) -> dict[str, Any]:
    body = {"url": url, "events": ["ticket.received", "ticket.status_changed"]}
    r = await notify.client.post("/v1/webhooks/subscriptions", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


def _tickets(receiver: Receiver, path: str) -> list[str]:
    return sorted(
        json.loads(r.body)["data"]["ticket_no"] for r in receiver.requests if r.path == path
    )


async def test_each_partner_hears_only_about_its_own_tickets(
    notify_app: NotifyFactory, receiver: Receiver
) -> None:
    async with notify_app() as notify:
        await _subscribe(notify, receiver.url + "/a", PARTNER_A)
        await _subscribe(notify, receiver.url + "/b", PARTNER_B)
        await _subscribe(notify, receiver.url + "/ops", OPS)
        await notify.apply(
            ev.received("EN-A", source_org=A),
            ev.received("EN-B", source_org=B),
            ev.received("EN-0"),  # a hotline complaint: no partner's business
            ev.status("EN-A", "accepted"),
        )
        await eventually(lambda: _got(receiver, 7))
        await notify.parts.sender.tick()
        assert _tickets(receiver, "/a") == ["EN-A", "EN-A"]
        assert _tickets(receiver, "/b") == ["EN-B"]
        assert _tickets(receiver, "/ops") == ["EN-0", "EN-A", "EN-A", "EN-B"]


async def _got(receiver: Receiver, n: int) -> bool:
    return len(receiver.requests) >= n


async def test_a_partners_body_carries_no_number_no_name_no_id_and_no_address(
    notify_app: NotifyFactory, receiver: Receiver
) -> None:
    async with notify_app() as notify:
        await _subscribe(notify, receiver.url + "/a", PARTNER_A)
        await notify.apply(
            ev.received("PII-1", source_org=A, description=ALL_FORMS, location="朝阳区建国路88号")
        )
        [request] = await eventually(lambda: _requests(receiver, 1))
        body = request.body.decode()
        data = json.loads(body)["data"]
        for leaked in ("13800138000", "0013", "１３８", "张三丰", "110105199001011234", "建国路"):
            assert leaked not in body, leaked
        assert "msisdn" not in data and "location" not in data
        assert data["msisdn_masked"] == "138****8000"
        assert "138****8000" in data["description"]


async def _requests(receiver: Receiver, n: int) -> list[Any] | None:
    return receiver.requests if len(receiver.requests) >= n else None


async def test_a_hub_query_on_ticket_attributes_is_honoured(
    notify_app: NotifyFactory, receiver: Receiver
) -> None:
    hub = "/tmf-api/troubleTicket/v4/hub"
    async with notify_app() as notify:
        query = "eventType=TroubleTicketStatusChangeEvent&status=resolved"
        r = await notify.client.post(
            hub, json={"callback": receiver.url + "/h", "query": query}, headers=PARTNER_A
        )
        assert r.status_code == 201, r.text
        await notify.apply(
            ev.received("HQ-1", source_org=A),
            ev.status("HQ-1", "accepted"),
            ev.status("HQ-1", "resolved"),
        )
        [request] = await eventually(lambda: _requests(receiver, 1))
        await notify.parts.sender.tick()
        assert len(receiver.requests) == 1
        assert json.loads(request.body)["event"]["troubleTicket"]["status"] == "resolved"


@pytest.mark.parametrize(
    "url",
    [
        "http://partner.example.com:99999/h",
        "http://[partner.example.com/h",
        "https://93.184.216.34/a\x00b",
    ],
)
async def test_a_malformed_webhook_url_is_422_naming_the_url(
    notify_app: NotifyFactory, url: str
) -> None:
    async with notify_app() as notify:
        r = await notify.client.post(
            "/v1/webhooks/subscriptions",
            json={"url": url, "events": ["ticket.received"]},
            headers=PARTNER_A,
        )
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == "url"


async def _poison(notify: Any, url: str, owner: str = A) -> None:
    """A subscription stored before today's URL checks (or behind a lenient one)."""
    async with notify.rt.db.uow() as uow:
        uow.session.add(
            WebhookSubscription(
                id=f"ep_poison{free_port()}",
                kind="standard",
                url=url,
                events=["ticket.received"],
                owner=owner,
                owner_role="partner",
                secret=new_secret(),
                status="active",
            )
        )
        await uow.commit()


async def _attempts(notify: Any) -> dict[str, list[str | None]]:
    """Each subscription's delivery status and the last attempt's error."""
    async with notify.rt.db.sessions() as s:
        rows = (
            await s.execute(
                select(
                    WebhookDelivery.subscription_id, WebhookDelivery.status, WebhookAttempt.error
                )
                .outerjoin(WebhookAttempt, WebhookAttempt.delivery_id == WebhookDelivery.id)
                .order_by(WebhookAttempt.id)
            )
        ).all()
        await s.commit()
    out: dict[str, list[str | None]] = {}
    for sub_id, status, error in rows:
        out[sub_id] = [status, error]
    return out


async def test_a_poison_url_fails_alone_and_the_others_are_delivered_once(
    notify_app: NotifyFactory, receiver: Receiver
) -> None:
    async with notify_app(scheduler_enabled=False) as notify:
        await _poison(notify, "https://93.184.216.34/a\x01b")  # PostgreSQL stores no NUL
        await _subscribe(notify, receiver.url + "/ops", OPS)
        await _subscribe(notify, receiver.url + "/a", PARTNER_A)
        await notify.apply(ev.received("PZ-1", source_org=A))
        for _ in range(3):
            await notify.parts.sender.tick()
        assert sorted(r.path for r in receiver.requests) == ["/a", "/ops"]  # once each
        states = await _attempts(notify)
        poison = [v for k, v in states.items() if k.startswith("ep_poison")]
        assert poison and poison[0][0] == "pending" and poison[0][1]  # failed, will retry
        assert sorted(v[0] for k, v in states.items() if not k.startswith("ep_poison")) == [
            "delivered",
            "delivered",
        ]


@pytest.fixture
async def trickler() -> AsyncIterator[int]:
    """An endpoint that answers 200 and then trickles its body one byte per 200 ms, forever."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1000000\r\n\r\n")
            while True:
                writer.write(b"x")
                await writer.drain()
                await asyncio.sleep(0.2)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()


async def test_a_trickling_endpoint_cannot_stall_the_sender(
    notify_app: NotifyFactory, receiver: Receiver, trickler: int
) -> None:
    async with notify_app(scheduler_enabled=False, webhook_total_timeout_s=1.0) as notify:
        await _poison(notify, f"http://127.0.0.1:{trickler}/slow")
        await _subscribe(notify, receiver.url + "/a", PARTNER_A)
        await notify.apply(ev.received("TR-1", source_org=A))
        await notify.parts.sender.tick()  # returns although the trickle never ends
        assert [r.path for r in receiver.requests] == ["/a"]
        states = await _attempts(notify)
        slow = [v for k, v in states.items() if k.startswith("ep_poison")]
        assert slow[0][0] == "pending" and "timed out" in str(slow[0][1])


async def test_a_webhook_secret_is_shown_once_at_creation_and_never_read_back(
    notify_app: NotifyFactory, receiver: Receiver
) -> None:
    async with notify_app() as notify:
        body = {"url": receiver.url + "/a", "events": ["ticket.received"]}
        key = {"Idempotency-Key": "sub-once-1"}
        first = await notify.client.post(
            "/v1/webhooks/subscriptions", json=body, headers={**PARTNER_A, **key}
        )
        assert first.status_code == 201 and first.json()["secret"].startswith("whsec_")
        again = await notify.client.post(
            "/v1/webhooks/subscriptions", json=body, headers={**PARTNER_A, **key}
        )
        assert again.json()["id"] == first.json()["id"] and again.json()["secret"] is None
        sub = first.json()["id"]
        read = await notify.client.get(f"/v1/webhooks/subscriptions/{sub}", headers=PARTNER_A)
        assert read.status_code == 200 and read.json()["secret"] is None
        secret = await notify.client.get(
            f"/v1/webhooks/subscriptions/{sub}/secret", headers=PARTNER_A
        )
        assert secret.status_code in (404, 405)
        rotated = await notify.client.post(
            f"/v1/webhooks/subscriptions/{sub}/rotate-secret", headers=PARTNER_A
        )
        assert rotated.json()["secret"] not in (None, first.json()["secret"])
