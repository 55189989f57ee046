"""Webhook rules without I/O: the retry schedule, Retry-After, disabling, SSRF, masking."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from services.notify.webhooks import policy
from services.notify.webhooks.catalogue import mask
from services.notify.webhooks.schemas import tmf_events_from_query
from services.notify.webhooks.ssrf import UnsafeTarget, check_target

NOW = datetime(2026, 11, 23, 2, tzinfo=UTC)


def _judge(code: int | None, n: int, **kw: object) -> policy.Verdict:
    values: dict[str, object] = {
        "round_attempts": n,
        "now": NOW,
        "failing_since": None,
        "disable_after_s": 5 * 86400,
        "max_retry_after_s": 86400,
        "rng": random.Random(1),
    }
    values.update(kw)
    retry_after = values.pop("retry_after", None)
    result = policy.AttemptResult(code, retry_after)  # type: ignore[arg-type]
    return policy.judge(result, **values)  # type: ignore[arg-type]


def test_failures_follow_the_standard_webhooks_schedule_with_jitter() -> None:
    expected = [5, 300, 1800, 7200, 18000, 36000, 36000]
    for n, base in enumerate(expected, start=1):
        verdict = _judge(500, n)
        assert verdict.next_attempt_at is not None
        delay = (verdict.next_attempt_at - NOW).total_seconds()
        assert base * 0.9 <= delay <= base * 1.1, (n, delay)
    exhausted = _judge(500, 8)
    assert (exhausted.delivered, exhausted.next_attempt_at, exhausted.disable_reason) == (
        False,
        None,
        None,
    )


def test_retry_after_in_seconds_or_as_a_date_is_honoured_and_capped() -> None:
    v = _judge(429, 1, retry_after="600")
    assert v.next_attempt_at == NOW + timedelta(seconds=600)
    v = _judge(503, 1, retry_after="Mon, 23 Nov 2026 04:00:00 GMT")
    assert v.next_attempt_at == NOW + timedelta(hours=2)
    v = _judge(503, 1, retry_after=str(10 * 86400))
    assert v.next_attempt_at == NOW + timedelta(days=1)
    v = _judge(500, 1, retry_after="600")  # only 429/503 carry a meaningful Retry-After
    assert v.next_attempt_at is not None and v.next_attempt_at < NOW + timedelta(seconds=6)


def test_410_disables_at_once_and_days_of_failure_disable_too() -> None:
    assert _judge(410, 1).disable_reason == "the endpoint answered 410 Gone"
    recent = _judge(500, 3, failing_since=NOW - timedelta(days=4, hours=23))
    assert recent.disable_reason is None
    long = _judge(500, 3, failing_since=NOW - timedelta(days=5))
    assert long.disable_reason == "every delivery failed for 5 days"
    assert _judge(204, 3, failing_since=NOW - timedelta(days=9)).delivered


async def _fake_dns(host: str, port: int) -> list[str]:
    return {
        "public.example.com": ["93.184.216.34", "2606:2800:220:1::1"],
        "mixed.example.com": ["93.184.216.34", "10.0.0.8"],
        "cgnat.example.com": ["100.64.1.1"],
    }.get(host, [host.strip("[]")])


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/h",
        "http://10.2.3.4/h",
        "http://172.16.0.1/h",
        "http://192.168.1.1/h",
        "http://169.254.169.254/h",
        "http://[::1]/h",
        "http://[::ffff:10.0.0.1]/h",
        "http://[fd00::1]/h",
        "http://0.0.0.0/h",
        "http://224.0.0.1/h",
        "https://mixed.example.com/h",
        "https://cgnat.example.com/h",
    ],
)
async def test_non_public_addresses_are_refused(url: str) -> None:
    with pytest.raises(UnsafeTarget, match="non-public"):
        await check_target(url, allow_private=False, require_https=False, resolver=_fake_dns)


async def test_public_targets_pass_and_the_scheme_rules_hold() -> None:
    await check_target(
        "https://public.example.com/h", allow_private=False, require_https=True, resolver=_fake_dns
    )
    for url, message in [
        ("http://public.example.com/h", "https"),
        ("ftp://public.example.com/h", "http or https"),
        ("https://user:pw@public.example.com/h", "credentials"),
    ]:
        with pytest.raises(UnsafeTarget, match=message):
            await check_target(url, allow_private=False, require_https=True, resolver=_fake_dns)
    await check_target("http://127.0.0.1:9/h", allow_private=True, require_https=False)


def test_msisdns_are_masked_in_partner_payloads() -> None:
    data = {
        "msisdn": "+8613800138000",
        "msisdn_masked": "138****8000",
        "description": "请回电13900139000或+8613700137000",
        "nested": [{"msisdn": "+8613600136000"}],
    }
    assert mask(data) == {
        "msisdn_masked": "138****8000",
        "description": "请回电139****9000或137****7000",
        "nested": [{}],  # a raw number field never leaves, masked or not
    }


def test_hub_queries_select_tmf_event_types() -> None:
    assert len(tmf_events_from_query(None)) == 5
    assert tmf_events_from_query("eventType=TroubleTicketResolvedEvent") == [
        "TroubleTicketResolvedEvent"
    ]
    with pytest.raises(ValueError, match="unknown"):
        tmf_events_from_query("eventType=TicketCreated")


def test_a_hub_query_admits_only_events_whose_ticket_matches() -> None:
    from services.notify.webhooks import hub_query

    q = hub_query.parse(
        "eventType=TroubleTicketResolvedEvent&event.troubleTicket.severity=Major,Critical"
        "&channel.name=web"
    )
    body = {"event": {"troubleTicket": {"severity": "Major", "channel": {"name": "web"}}}}
    assert q.admits("TroubleTicketResolvedEvent", body)
    assert not q.admits("TroubleTicketCreateEvent", body)
    minor = {"event": {"troubleTicket": {"severity": "Minor", "channel": {"name": "web"}}}}
    assert not q.admits("TroubleTicketResolvedEvent", minor)
    assert not q.admits("TroubleTicketResolvedEvent", {"event": {"troubleTicket": {}}})
    with pytest.raises(ValueError, match="cannot filter"):
        hub_query.parse("event.troubleTicket.description=x")
    with pytest.raises(ValueError, match="needs a value"):
        hub_query.parse("severity=")
