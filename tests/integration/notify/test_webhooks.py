"""Partner webhooks over real HTTP: signed (verified by the standardwebhooks library), masked,
retried on the Standard Webhooks schedule with Retry-After, replayed, disabled on 410 or after
days of failure (its owner told), refused for non-public targets, and the TMF621 hub."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from standardwebhooks import Webhook

from services.notify.clock import ManualClock
from tests.builders import auth, eventually
from tests.integration.notify import events as ev
from tests.integration.notify.conftest import (
    OPS,
    Mailbox,
    NotifyFactory,
    NotifyUnderTest,
    Receiver,
)

ORG = "partner-12300"
PARTNER = auth("partner", sub=ORG)
OTHER_PARTNER = auth("partner", sub="partner-consumer-assoc")
EVENTS = ["ticket.received", "ticket.status_changed"]


async def _subscribe(notify: NotifyUnderTest, url: str, **kw: Any) -> dict[str, Any]:
    body = {"url": url, "events": EVENTS, "description": "12300 appeal centre", **kw}
    r = await notify.client.post("/v1/webhooks/subscriptions", json=body, headers=PARTNER)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _requests(receiver: Receiver, n: int) -> list[Any] | None:
    return receiver.requests if len(receiver.requests) >= n else None


async def test_a_partner_verifies_our_signatures_and_never_sees_a_full_number(
    notify_app: NotifyFactory, receiver: Receiver
) -> None:
    async with notify_app() as notify:
        c = notify.client
        url = "/v1/webhooks/subscriptions"
        good = {"url": receiver.url + "/hooks", "events": EVENTS}
        assert (await c.post(url, json=good)).status_code == 401
        assert (await c.post(url, json=good, headers=auth("agent"))).status_code == 403
        r = await c.post(url, json={**good, "events": ["ticket.exploded"]}, headers=PARTNER)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "events"
        r = await c.post(url, json={**good, "url": "ftp://x.example/h"}, headers=PARTNER)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "url"

        sub = await _subscribe(notify, receiver.url + "/hooks")
        assert sub["secret"].startswith("whsec_") and sub["status"] == "active"
        r = await c.get(f"{url}/{sub['id']}", headers=OTHER_PARTNER)
        assert r.status_code == 404  # another partner's subscription does not exist for them

        await notify.apply(
            ev.received("WH-1", source_org=ORG),
            ev.classified("WH-1"),
            ev.status("WH-1", "accepted"),
        )
        first, second = await eventually(lambda: _requests(receiver, 2))
        for request in (first, second):
            payload = Webhook(sub["secret"]).verify(request.body, request.headers)
            assert payload["data"]["ticket_no"] == "WH-1"
            assert "13800138000" not in request.body.decode()
        received = json.loads(first.body)
        assert received["type"] == "ticket.received"
        assert received["data"]["msisdn_masked"] == "138****8000"
        assert "msisdn" not in received["data"]
        assert received["data"]["description"].endswith("回电138****8000")

        rotated = (await c.post(f"{url}/{sub['id']}/rotate-secret", headers=PARTNER)).json()
        assert rotated["secret"] != sub["secret"] and rotated["previous_secret_until"]
        await notify.apply(ev.status("WH-1", "in_progress"))
        third = (await eventually(lambda: _requests(receiver, 3)))[2]
        assert len(third.headers["webhook-signature"].split(" ")) == 2
        for secret in (rotated["secret"], sub["secret"]):  # both verify during the overlap
            Webhook(secret).verify(third.body, third.headers)

        async def all_recorded() -> list[Any] | None:
            items = (await c.get("/v1/webhooks/deliveries", headers=PARTNER)).json()["items"]
            return items if [d["status"] for d in items] == ["delivered"] * 3 else None

        log = await eventually(all_recorded)  # the receiver answers before we record
        assert log[0]["attempt_log"][0]["status_code"] == 200
        theirs = (await c.get("/v1/webhooks/deliveries", headers=OTHER_PARTNER)).json()
        assert theirs["items"] == []


async def test_retries_follow_the_schedule_honour_retry_after_and_replay_keeps_the_id(
    notify_app: NotifyFactory, receiver: Receiver
) -> None:
    start = datetime.now(UTC) + timedelta(days=1)
    clock = ManualClock(start)
    async with notify_app(scheduler_enabled=False, app_kw={"clock": clock}) as notify:
        notify.parts.sender.rng = random.Random(7)
        sub = await _subscribe(notify, receiver.url + "/hooks")
        receiver.script = [(500, {}), (503, {"Retry-After": "3600"}), (200, {})]
        await notify.apply(ev.received("RT-1", source_org=ORG))
        sender = notify.parts.sender

        await sender.tick()
        [d] = (await notify.client.get("/v1/webhooks/deliveries", headers=PARTNER)).json()["items"]
        first_retry = datetime.fromisoformat(d["next_attempt_at"]) - start
        assert timedelta(seconds=4.5) <= first_retry <= timedelta(seconds=5.5)  # 5 s ± jitter
        assert await sender.tick() == 0  # not due yet
        clock.at = start + first_retry
        await sender.tick()
        [d] = (await notify.client.get("/v1/webhooks/deliveries", headers=PARTNER)).json()["items"]
        wait = datetime.fromisoformat(d["next_attempt_at"]) - clock.at
        assert wait == timedelta(hours=1)  # Retry-After beats the 5-minute step
        clock.advance(hours=1)
        await sender.tick()
        [d] = (await notify.client.get("/v1/webhooks/deliveries", headers=PARTNER)).json()["items"]
        assert d["status"] == "delivered"
        assert [a["status_code"] for a in d["attempt_log"]] == [500, 503, 200]
        assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1

        r = await notify.client.post(f"/v1/webhooks/deliveries/{d['id']}/replay", headers=PARTNER)
        assert r.status_code == 202 and r.json()["status"] == "pending"
        await sender.tick()
        assert len(receiver.requests) == 4
        assert receiver.requests[3].headers["webhook-id"] == d["webhook_id"]

        receiver.always = 410
        await notify.apply(ev.status("RT-1", "accepted"))
        await sender.tick()
        got = await notify.client.get(f"/v1/webhooks/subscriptions/{sub['id']}", headers=PARTNER)
        assert got.json()["status"] == "disabled" and "410" in got.json()["disabled_reason"]


async def test_an_endpoint_failing_for_days_is_disabled_and_its_owner_told(
    notify_app: NotifyFactory, receiver: Receiver, mailbox: Mailbox
) -> None:
    start = datetime.now(UTC) + timedelta(days=1)
    clock = ManualClock(start)
    async with notify_app(scheduler_enabled=False, app_kw={"clock": clock}) as notify:
        sub = await _subscribe(notify, receiver.url + "/hooks", owner_email="hooks@partner.com.cn")
        receiver.always = 500
        await notify.apply(ev.received("FD-1", source_org=ORG))
        await notify.parts.sender.tick()
        clock.advance(days=4)
        await notify.apply(ev.status("FD-1", "accepted"))
        await notify.parts.sender.tick()
        state = await notify.client.get(f"/v1/webhooks/subscriptions/{sub['id']}", headers=OPS)
        assert state.json()["status"] == "active" and state.json()["failing_since"]
        clock.advance(days=1)
        await notify.apply(ev.status("FD-1", "in_progress"))
        await notify.parts.sender.tick()
        state = await notify.client.get(f"/v1/webhooks/subscriptions/{sub['id']}", headers=OPS)
        assert state.json()["status"] == "disabled"
        assert "5 days" in state.json()["disabled_reason"]
        sent_before = len(receiver.requests)
        await notify.apply(ev.status("FD-1", "replied"))
        assert await notify.parts.sender.tick() == 0 and len(receiver.requests) == sent_before

        await notify.tick()  # the dispatcher e-mails the owner
        [mail] = mailbox.to("hooks@partner.com.cn")
        assert str(mail["Subject"]) == f"【Webhook已停用】订阅{sub['id']}"
        [note] = await notify.notifications(channel="email")
        assert (
            note["template"] == "webhook_disabled" and note["recipient"] == "ho***@partner.com.cn"
        )

        r = await notify.client.post(f"/v1/webhooks/subscriptions/{sub['id']}/resume", headers=OPS)
        assert r.json()["status"] == "active" and r.json()["failing_since"] is None


async def test_non_public_targets_are_refused_when_private_targets_are_not_allowed(
    notify_app: NotifyFactory, receiver: Receiver
) -> None:
    dns = {"partner.example.com": ["93.184.216.34"], "evil.example.com": ["10.0.0.5"]}

    async def resolver(host: str, port: int) -> list[str]:
        if host in dns:
            return dns[host]
        return ["127.0.0.1"] if host == "localhost" else [host.strip("[]")]

    async with notify_app(
        webhook_allow_private_targets=False, app_kw={"resolver": resolver}
    ) as notify:
        c = notify.client
        for url in (
            "http://127.0.0.1:9/hooks",
            "http://localhost/hooks",
            "http://[::ffff:127.0.0.1]/hooks",
            "http://169.254.169.254/latest/meta-data",
            "https://evil.example.com/hooks",
        ):
            r = await c.post(
                "/v1/webhooks/subscriptions", json={"url": url, "events": ["*"]}, headers=PARTNER
            )
            assert r.status_code == 422, url
            assert r.json()["errors"][0]["field"] == "url" and "non-public" in r.text
        r = await c.post(
            "/tmf-api/troubleTicket/v4/hub", json={"callback": "http://10.1.2.3/l"}, headers=PARTNER
        )
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "callback"

        sub = await _subscribe(notify, "https://partner.example.com/hooks")
        dns["partner.example.com"] = ["192.168.1.10"]  # DNS now points inside: refused again
        await notify.apply(ev.received("SS-1", source_org=ORG))

        async def refused() -> list[Any] | None:
            items = (await c.get("/v1/webhooks/deliveries", headers=PARTNER)).json()["items"]
            log = items[0]["attempt_log"] if items else []
            return log or None

        [attempt] = await eventually(refused)
        assert attempt["status_code"] is None and "refused" in attempt["error"]
        assert sub["id"]


async def test_a_host_that_rebinds_to_loopback_after_the_check_is_not_connected_to(
    notify_app: NotifyFactory, receiver: Receiver
) -> None:
    """DNS rebinding: the check sees a public address, the connection would get loopback.
    Each connection is pinned to an address checked when it is made, so nothing arrives."""

    async def answers_public_once(host: str, port: int) -> list[str]:
        return ["93.184.216.34"]  # what the attacker's DNS told the check

    async with notify_app(
        webhook_allow_private_targets=False, app_kw={"resolver": answers_public_once}
    ) as notify:
        await _subscribe(notify, f"http://localhost:{receiver.port}/hooks")
        await notify.apply(ev.received("RB-1", source_org=ORG))

        async def attempted() -> list[Any] | None:
            r = await notify.client.get("/v1/webhooks/deliveries", headers=PARTNER)
            items = r.json()["items"]
            return (items[0]["attempt_log"] or None) if items else None

        [attempt] = await eventually(attempted)
        assert attempt["status_code"] is None
        assert "refused" in attempt["error"] and "127.0.0.1" in attempt["error"]
        assert receiver.requests == []


async def test_a_tmf621_listener_receives_trouble_ticket_events(
    notify_app: NotifyFactory, receiver: Receiver
) -> None:
    hub = "/tmf-api/troubleTicket/v4/hub"
    async with notify_app() as notify:
        c = notify.client
        r = await c.post(
            hub, json={"callback": receiver.url, "query": "eventType=Nope"}, headers=PARTNER
        )
        assert r.status_code == 400 and r.json()["errors"][0]["field"] == "query"
        r = await c.post(hub, json={"callback": receiver.url + "/all"}, headers=PARTNER)
        assert r.status_code == 201 and r.headers["location"].endswith(r.json()["id"])
        query = "eventType=TroubleTicketStatusChangeEvent,TroubleTicketResolvedEvent"
        r = await c.post(
            hub, json={"callback": receiver.url + "/some", "query": query}, headers=PARTNER
        )
        some = r.json()
        assert some["query"] == query

        await notify.apply(
            ev.received("TM-1", source_org=ORG),
            ev.classified("TM-1", "major"),
            ev.status("TM-1", "resolved"),
        )
        requests = await eventually(lambda: _requests(receiver, 6))
        seen = sorted((r.path, json.loads(r.body)["eventType"]) for r in requests)
        assert seen == [
            (
                "/all/listener/troubleTicketAttributeValueChangeEvent",
                "TroubleTicketAttributeValueChangeEvent",
            ),
            ("/all/listener/troubleTicketCreateEvent", "TroubleTicketCreateEvent"),
            ("/all/listener/troubleTicketResolvedEvent", "TroubleTicketResolvedEvent"),
            ("/all/listener/troubleTicketStatusChangeEvent", "TroubleTicketStatusChangeEvent"),
            ("/some/listener/troubleTicketResolvedEvent", "TroubleTicketResolvedEvent"),
            ("/some/listener/troubleTicketStatusChangeEvent", "TroubleTicketStatusChangeEvent"),
        ]
        bodies = {json.loads(r.body)["eventType"]: json.loads(r.body) for r in requests}
        created = bodies["TroubleTicketCreateEvent"]
        assert {"eventId", "eventTime", "eventType", "event"} <= set(created)
        ticket = created["event"]["troubleTicket"]
        assert ticket["id"] == "TM-1" and ticket["status"] == "acknowledged"
        assert ticket["relatedParty"][0]["id"] == "138****8000"
        changed = bodies["TroubleTicketAttributeValueChangeEvent"]
        assert changed["event"]["troubleTicket"]["severity"] == "Major"
        resolved = bodies["TroubleTicketResolvedEvent"]["event"]["troubleTicket"]
        assert resolved["status"] == "resolved" and resolved["ticketType"] == "network"

        assert (await c.delete(f"{hub}/{some['id']}", headers=PARTNER)).status_code == 204
        assert (await c.delete(f"{hub}/{some['id']}", headers=PARTNER)).status_code == 404


async def test_a_hub_query_filters_on_the_tickets_attributes_and_information_required(
    notify_app: NotifyFactory, receiver: Receiver
) -> None:
    hub = "/tmf-api/troubleTicket/v4/hub"
    async with notify_app() as notify:
        c = notify.client
        for bad in ("event.troubleTicket.colour=red", "severity", "eventType=Nope"):
            r = await c.post(hub, json={"callback": receiver.url, "query": bad}, headers=PARTNER)
            assert r.status_code == 400 and r.json()["@type"] == "Error"
            assert r.json()["errors"][0]["field"] == "query"
        waiting = "eventType=TroubleTicketInformationRequiredEvent"
        r = await c.post(
            hub, json={"callback": receiver.url + "/wait", "query": waiting}, headers=PARTNER
        )
        assert r.status_code == 201, r.text
        major_resolved = (
            "eventType=TroubleTicketResolvedEvent,TroubleTicketStatusChangeEvent"
            "&event.troubleTicket.severity=Major&event.troubleTicket.status=resolved"
        )
        major = {"callback": receiver.url + "/major", "query": major_resolved}
        r = await c.post(hub, json=major, headers=PARTNER)
        assert r.status_code == 201, r.text

        await notify.apply(
            ev.received("TQ-1", source_org=ORG),
            ev.classified("TQ-1", "major"),
            ev.status("TQ-1", "pending", "in_progress", reason="等待客户提供话单"),
            ev.status("TQ-1", "resolved", "in_progress"),
            ev.received("TQ-2", source_org=ORG),
            ev.classified("TQ-2", "normal"),
            ev.status("TQ-2", "pending", "in_progress"),
            ev.status("TQ-2", "resolved", "in_progress"),
        )
        requests = await eventually(lambda: _requests(receiver, 4))
        await notify.apply(ev.received("TQ-3", source_org=ORG))  # nothing for these listeners
        seen = sorted(
            (r.path, json.loads(r.body)["event"]["troubleTicket"]["id"]) for r in requests
        )
        assert seen == [
            ("/major/listener/troubleTicketResolvedEvent", "TQ-1"),
            ("/major/listener/troubleTicketStatusChangeEvent", "TQ-1"),
            ("/wait/listener/troubleTicketInformationRequiredEvent", "TQ-1"),
            ("/wait/listener/troubleTicketInformationRequiredEvent", "TQ-2"),
        ]
        body = next(json.loads(r.body) for r in requests if "/wait/" in r.path)
        assert body["eventType"] == "TroubleTicketInformationRequiredEvent"
        assert {"eventId", "eventTime", "eventType", "event", "@type"} <= set(body)
        assert body["event"]["troubleTicket"]["status"] == "pending"
