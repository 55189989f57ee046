"""Pure plumbing rules: money, phone numbers, CloudEvents codec, routing table, settings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.cloudevents import Envelope, PoisonMessage, decode, encode
from shared.events import TicketAssigned
from shared.money import format_fen, parse_amount
from shared.phone import InvalidPhoneNumber, mask_msisdn, normalize_msisdn
from shared.settings import DEV_JWT_SECRET, ServiceSettings
from shared.topology import owner_of


@pytest.mark.parametrize(("text", "fen"), [("150.00", 15000), ("0.01", 1), ("100.10", 10010)])
def test_amounts_are_two_place_strings_held_as_fen(text: str, fen: int) -> None:
    assert parse_amount(text) == fen
    assert format_fen(fen) == text


@pytest.mark.parametrize("bad", ["150", "150.0", "150.000", "-1.00", "1e3", "abc", "9999999999.00"])
def test_malformed_amounts_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_amount(bad)


@pytest.mark.parametrize("raw", ["13800138000", "+86 138 0013 8000", "+8613800138000"])
def test_chinese_mobiles_normalise_to_e164(raw: str) -> None:
    assert normalize_msisdn(raw) == "+8613800138000"


@pytest.mark.parametrize("raw", ["12345", "010-12345678", "+14155552671", "1380013800", ""])
def test_non_chinese_or_non_mobile_numbers_are_refused(raw: str) -> None:
    with pytest.raises(InvalidPhoneNumber):
        normalize_msisdn(raw)


def test_masking_hides_the_middle_four_digits() -> None:
    assert mask_msisdn("+8613800138000") == "138****8000"


def _assigned() -> TicketAssigned:
    return TicketAssigned(
        ticket_no="TS1",
        owner_department="a",
        handler_department="b",
        reason="r",
        assigned_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def test_events_round_trip_in_cloudevents_binary_mode() -> None:
    envelope = Envelope(event=_assigned(), source="/complaints/routing")
    key, value, headers = encode(envelope)
    names = dict(headers)
    assert key == b"TS1"
    assert names["ce_type"] == b"TicketAssigned" and names["ce_specversion"] == b"1.0"
    assert decode(headers, value) == Envelope(
        event=_assigned(), id=envelope.id, source=envelope.source, time=envelope.time
    )


def test_unknown_event_types_and_fields_are_ignored() -> None:
    _, value, headers = encode(Envelope(event=_assigned()))
    unknown = [(k, b"SomethingNew" if k == "ce_type" else v) for k, v in headers]
    assert decode(unknown, value) is None
    extended = value.replace(b"{", b'{"future_field":1,', 1)
    decoded = decode(headers, extended)
    assert decoded is not None and decoded.event == _assigned()


def test_records_that_are_not_cloudevents_are_poison() -> None:
    with pytest.raises(PoisonMessage, match="ce_id"):
        decode([], b"{}")
    _, _, headers = encode(Envelope(event=_assigned()))
    with pytest.raises(PoisonMessage):
        decode(headers, b"not json")


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/v1/complaints", "intake"),
        ("/v1/complaints/TS1/accept", "intake"),
        ("/tmf-api/troubleTicket/v4/troubleTicket/1", "intake"),
        ("/tmf-api/troubleTicket/v4/hub", "notify"),
        ("/v1/assignments/TS1", "routing"),
        ("/v1/calendar/days", "sla"),
        ("/v1/refunds", "refund"),
        ("/v1/notifications", "notify"),
        ("/sla/docs", "sla"),
    ],
)
def test_gateway_routes_each_prefix_to_its_owner(path: str, service: str) -> None:
    spec = owner_of(path)
    assert spec is not None and spec.name == service


def test_gateway_matches_whole_path_segments_only() -> None:
    assert owner_of("/v1/complaintsX") is None


AUD_ISS = {"jwt_audience": "complaints-10086", "jwt_issuer": "https://sso.internal"}


def test_production_refuses_the_dev_secret() -> None:
    with pytest.raises(ValueError, match="development or example secret"):
        ServiceSettings(
            env="production",
            jwt_secret=DEV_JWT_SECRET,
            database_url="postgresql+asyncpg://x@h/db",
            **AUD_ISS,
        )
    ok = ServiceSettings(
        env="production", jwt_secret="s" * 40, database_url="postgresql+asyncpg://x@h/db", **AUD_ISS
    )
    assert ok.production


def test_production_refuses_sqlite() -> None:
    with pytest.raises(ValueError, match="PostgreSQL"):
        ServiceSettings(env="production", jwt_secret="s" * 40, **AUD_ISS)
