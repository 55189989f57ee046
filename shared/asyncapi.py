"""The event catalogue as an AsyncAPI 3.0 document, generated from shared/events.py.

Channels are the topics (and each consuming service's dead-letter topic); every event
type is one message whose payload schema comes from its pydantic model, with CloudEvents
binary-mode headers and the ticket number as Kafka key. Publishers are the topic owners;
consumers are read from each `services/<name>/consumer.py` without importing it (importing
builds settings, which production refuses without its secrets).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import JSONResponse

from shared.events import (
    EVENT_TYPES,
    NOTIFY_TOPIC,
    REFUND_TOPIC,
    ROUTING_TOPIC,
    SLA_TOPIC,
    TICKET_TOPIC,
    TOPICS,
    Event,
    dead_letter_topic,
)
from shared.topology import SERVICE_NAMES

ASYNCAPI_PATH = "/asyncapi.json"
KAFKA_BINDING = "0.5.0"
SCHEMAS = "#/components/schemas/"
TOPIC_OWNERS: dict[str, str] = {
    TICKET_TOPIC: "intake",
    ROUTING_TOPIC: "routing",
    SLA_TOPIC: "sla",
    REFUND_TOPIC: "refund",
    NOTIFY_TOPIC: "notify",
}
"""Each topic has one publishing service (DESIGN: topics per owning service)."""

CLOUDEVENT_HEADERS: dict[str, Any] = {
    "type": "object",
    "description": "CloudEvents 1.0 attributes in Kafka binary mode (one header each).",
    "required": ["ce_specversion", "ce_id", "ce_type", "ce_source", "ce_time", "ce_subject"],
    "properties": {
        "ce_specversion": {"type": "string", "const": "1.0"},
        "ce_id": {"type": "string", "format": "uuid", "description": "Event id (dedup key)"},
        "ce_type": {"type": "string", "description": "Event type: the model's class name"},
        "ce_source": {"type": "string", "description": "/complaints/<publishing service>"},
        "ce_time": {"type": "string", "format": "date-time"},
        "ce_subject": {"type": "string", "description": "Ticket number (also the key)"},
        "content-type": {"type": "string", "const": "application/json"},
        "traceparent": {"type": "string", "description": "W3C trace context, when traced"},
    },
}
DEAD_LETTER_HEADERS: dict[str, Any] = {
    "type": "object",
    "description": "The original headers, plus why and where the record failed.",
    "required": ["dlq_error", "dlq_source_topic", "dlq_partition", "dlq_offset", "dlq_group"],
    "properties": {
        "dlq_error": {"type": "string"},
        "dlq_source_topic": {"type": "string", "description": "Where `dlq-replay` sends it"},
        "dlq_partition": {"type": "string"},
        "dlq_offset": {"type": "string"},
        "dlq_group": {"type": "string"},
        "dlq_attempts": {"type": "string"},
        "dlq_failed_at": {"type": "string", "format": "date-time"},
    },
}
TICKET_KEY: dict[str, Any] = {
    "type": "string",
    "description": "Ticket number (投诉编码): all of a ticket's events share a partition, in order",
    "examples": ["TS2611220482913"],
}


def consumed_event_types(service: str) -> list[str]:
    """Event types a service consumes: the catalogue names its consumer.py imports."""
    found = importlib.util.find_spec(f"services.{service}.consumer")
    if found is None or found.origin is None:
        return []
    tree = ast.parse(Path(found.origin).read_text(encoding="utf-8"))
    names = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "shared.events"
        for alias in node.names
    }
    return sorted(names & EVENT_TYPES.keys())


def consumers() -> dict[str, list[str]]:
    """Service name -> consumed event types, for every service that consumes something."""
    return {s: types for s in SERVICE_NAMES if (types := consumed_event_types(s))}


def _schemas() -> dict[str, Any]:
    models: list[type[Event]] = [EVENT_TYPES[name] for name in sorted(EVENT_TYPES)]
    _, top = models_json_schema(
        [(m, "serialization") for m in models], ref_template=SCHEMAS + "{model}"
    )
    schemas: dict[str, Any] = top["$defs"]
    schemas["CloudEventHeaders"] = CLOUDEVENT_HEADERS
    schemas["DeadLetterHeaders"] = DEAD_LETTER_HEADERS
    return schemas


def _message(name: str, model: type[Event]) -> dict[str, Any]:
    owner = TOPIC_OWNERS[model.topic]
    doc = (model.__doc__ or f"{name} event.").strip()
    return {
        "name": name,
        "title": name,
        "summary": doc.splitlines()[0],
        "contentType": "application/json",
        "headers": {
            "allOf": [
                {"$ref": SCHEMAS + "CloudEventHeaders"},
                {
                    "type": "object",
                    "properties": {
                        "ce_type": {"type": "string", "const": name},
                        "ce_source": {"type": "string", "const": f"/complaints/{owner}"},
                    },
                },
            ]
        },
        "payload": {"$ref": SCHEMAS + name},
        "correlationId": {"location": "$message.header#/ce_subject"},
        "bindings": {"kafka": {"key": TICKET_KEY, "bindingVersion": KAFKA_BINDING}},
    }


def _dead_letter_message() -> dict[str, Any]:
    return {
        "name": "DeadLetter",
        "title": "Dead-lettered record",
        "summary": "A record a consumer group could not apply, unchanged, with the error.",
        "description": "Value and key are the original record's; `dlq-replay` re-publishes it "
        "to `dlq_source_topic`.",
        "headers": {"allOf": [{"$ref": SCHEMAS + "DeadLetterHeaders"}]},
        "payload": {"description": "The original record value (normally a catalogue event)"},
        "bindings": {"kafka": {"key": TICKET_KEY, "bindingVersion": KAFKA_BINDING}},
    }


def _channel(address: str, description: str, messages: list[str]) -> dict[str, Any]:
    return {
        "address": address,
        "description": description,
        "messages": {m: {"$ref": f"#/components/messages/{m}"} for m in messages},
        "bindings": {"kafka": {"topic": address, "bindingVersion": KAFKA_BINDING}},
    }


def _operation(
    action: str, channel: str, messages: list[str], summary: str, group: str | None = None
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "action": action,
        "channel": {"$ref": f"#/channels/{channel}"},
        "summary": summary,
        "messages": [{"$ref": f"#/channels/{channel}/messages/{m}"} for m in messages],
    }
    if group is not None:
        op["bindings"] = {
            "kafka": {
                "groupId": {"type": "string", "const": group},
                "bindingVersion": KAFKA_BINDING,
            }
        }
    return op


def _short(topic: str) -> str:
    return topic.split(".")[1]  # complaints.ticket.v1 -> ticket


def build_document(*, bootstrap: str = "kafka-1:9092") -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the event catalogue."""
    by_topic = {t: sorted(n for n, m in EVENT_TYPES.items() if m.topic == t) for t in TOPICS}
    consumed = consumers()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic, names in by_topic.items():
        owner = TOPIC_OWNERS[topic]
        readers = [s for s, types in consumed.items() if set(types) & set(names)]
        about = f"Published by {owner}; consumed by {', '.join(readers) or 'no service'}."
        channels[topic] = _channel(topic, about, names)
        operations[f"{owner}_publishes_{_short(topic)}"] = _operation(
            "send", topic, names, f"{owner} publishes through its transactional outbox"
        )
    for service, types in consumed.items():
        for topic, names in by_topic.items():
            wanted = [n for n in names if n in types]
            if wanted:
                operations[f"{service}_consumes_{_short(topic)}"] = _operation(
                    "receive", topic, wanted, f"{service} applies these once (inbox)", service
                )
        dlq = dead_letter_topic(service)
        channels[dlq] = _channel(dlq, f"Records {service} could not apply.", ["DeadLetter"])
        operations[f"{service}_dead_letters"] = _operation(
            "send", dlq, ["DeadLetter"], f"{service} dead-letters after bounded retries"
        )
    messages = {name: _message(name, EVENT_TYPES[name]) for name in sorted(EVENT_TYPES)}
    messages["DeadLetter"] = _dead_letter_message()
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "10086 complaint handling: event catalogue",
            "version": "1.0.0",
            "description": "CloudEvents 1.0 in Kafka binary mode, JSON values, key = ticket "
            "number. Consumers ignore unknown fields and unknown event types.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {"host": bootstrap, "protocol": "kafka", "description": "Apache Kafka"}
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": _schemas()},
    }


@lru_cache(maxsize=1)
def asyncapi_document() -> dict[str, Any]:
    """The document, built once per process."""
    return build_document()


async def asyncapi_endpoint(_: Request) -> JSONResponse:
    """GET /asyncapi.json (a Starlette endpoint: gateway `Route(ASYNCAPI_PATH, ...)`)."""
    return JSONResponse(asyncapi_document())


if __name__ == "__main__":
    json.dump(asyncapi_document(), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
