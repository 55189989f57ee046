"""CloudEvents 1.0 in Kafka binary mode: attributes in `ce_*` headers, data as the JSON value."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import ValidationError

from shared.events import EVENT_TYPES, Event

Headers = list[tuple[str, bytes]]
CONTENT_TYPE = "application/json"


class PoisonMessage(Exception):
    """A message that can never be processed (not a CloudEvent, or data that fails its schema)."""


@dataclass(frozen=True)
class Envelope:
    """An event with its CloudEvents attributes."""

    event: Event
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    source: str = "/complaints"
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    extra_headers: tuple[tuple[str, str], ...] = ()

    @property
    def type(self) -> str:
        return self.event.type_name()

    @property
    def subject(self) -> str:
        return self.event.key


def encode(envelope: Envelope) -> tuple[bytes, bytes, Headers]:
    """Return (key, value, headers) for a Kafka record."""
    headers: Headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", envelope.id.encode()),
        ("ce_type", envelope.type.encode()),
        ("ce_source", envelope.source.encode()),
        ("ce_time", envelope.time.astimezone(UTC).isoformat().encode()),
        ("ce_subject", envelope.subject.encode()),
        ("content-type", CONTENT_TYPE.encode()),
    ]
    headers.extend((k, v.encode()) for k, v in envelope.extra_headers)
    value = envelope.event.model_dump_json().encode()
    return envelope.subject.encode(), value, headers


def header_map(headers: Headers | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in headers or ():
        try:
            out[k] = v.decode() if isinstance(v, bytes) else str(v)
        except UnicodeDecodeError:
            out[k] = repr(v)
    return out


def decode(headers: Headers | None, value: bytes | None) -> Envelope | None:
    """Parse a record. Unknown event types give None (ignored); malformed ones raise."""
    attrs = header_map(headers)
    missing = [a for a in ("ce_id", "ce_type", "ce_source", "ce_specversion") if a not in attrs]
    if missing:
        raise PoisonMessage(f"not a CloudEvent: missing header(s) {', '.join(missing)}")
    if attrs["ce_specversion"] != "1.0":
        raise PoisonMessage(f"unsupported CloudEvents specversion {attrs['ce_specversion']!r}")
    model = EVENT_TYPES.get(attrs["ce_type"])
    if model is None:
        return None
    try:
        data = json.loads(value or b"")
        event = model.model_validate(data)
        time = datetime.fromisoformat(attrs["ce_time"]) if "ce_time" in attrs else datetime.now(UTC)
    except (ValueError, ValidationError) as exc:
        raise PoisonMessage(f"{attrs['ce_type']} {attrs['ce_id']}: {exc}") from exc
    return Envelope(event=event, id=attrs["ce_id"], source=attrs["ce_source"], time=time)
