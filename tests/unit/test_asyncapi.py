"""The AsyncAPI document tells the truth about the event catalogue and the running code."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from shared.asyncapi import (
    ASYNCAPI_PATH,
    TOPIC_OWNERS,
    asyncapi_document,
    asyncapi_endpoint,
    build_document,
    consumed_event_types,
    consumers,
)
from shared.cloudevents import Envelope, encode
from shared.events import EVENT_TYPES, TOPICS, Event, dead_letter_topic
from shared.topology import SERVICE_NAMES, spec

DOC = build_document()
SERVICES_DIR = Path(__file__).resolve().parents[2] / "services"


def resolve(ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = DOC
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def test_it_is_an_asyncapi_3_document_with_a_kafka_server() -> None:
    assert DOC["asyncapi"] == "3.0.0"
    assert DOC["info"]["title"] and DOC["info"]["version"]
    assert {s["protocol"] for s in DOC["servers"].values()} == {"kafka"}


def test_every_reference_resolves() -> None:
    all_refs = refs(DOC)
    assert len(all_refs) > 100
    for ref in all_refs:
        assert resolve(ref) is not None, ref


def test_every_event_type_is_a_message_with_its_schema_and_cloudevents_headers() -> None:
    messages = DOC["components"]["messages"]
    assert set(EVENT_TYPES) <= set(messages)
    for name, model in EVENT_TYPES.items():
        message = messages[name]
        assert resolve(message["payload"]["$ref"])["title"] == name
        ce = resolve(message["headers"]["allOf"][0]["$ref"])
        assert {"ce_id", "ce_type", "ce_source", "ce_specversion", "ce_time"} <= set(ce["required"])
        assert message["headers"]["allOf"][1]["properties"]["ce_type"]["const"] == name
        owner = TOPIC_OWNERS[model.topic]
        assert message["headers"]["allOf"][1]["properties"]["ce_source"]["const"] == (
            f"/complaints/{owner}"
        )
        assert message["bindings"]["kafka"]["key"]["type"] == "string"
        assert "ticket number" in message["bindings"]["kafka"]["key"]["description"].lower()


def test_channels_are_the_topics_and_the_dead_letter_topic_of_every_consumer() -> None:
    addresses = {c["address"] for c in DOC["channels"].values()}
    assert addresses == {*TOPICS, *(dead_letter_topic(s) for s in consumers())}
    for topic in TOPICS:
        listed = set(DOC["channels"][topic]["messages"])
        assert listed == {n for n, m in EVENT_TYPES.items() if m.topic == topic}


def test_each_topic_is_published_by_its_owner_only() -> None:
    sends = [op for op in DOC["operations"].values() if op["action"] == "send"]
    for topic in TOPICS:
        owners = [op for op in sends if op["channel"]["$ref"] == f"#/channels/{topic}"]
        assert len(owners) == 1


def test_operations_only_name_messages_of_their_own_channel() -> None:
    for op_id, op in DOC["operations"].items():
        channel = op["channel"]["$ref"]
        assert op["messages"], op_id
        for message in op["messages"]:
            assert message["$ref"].startswith(channel + "/messages/"), op_id


def test_consumer_operations_match_the_handlers_the_services_register() -> None:
    for service in SERVICE_NAMES:
        module = importlib.import_module(f"services.{service}.consumer")
        handlers = getattr(module, "HANDLERS", None)
        if handlers is None:
            params = inspect.signature(module.make_handlers).parameters
            assert list(params) == ["settings"], f"{service}: cannot build its handlers"
            handlers = module.make_handlers(spec(service).settings())
        registered = sorted(model.type_name() for model in handlers)
        assert consumed_event_types(service) == registered, service
        received = {
            m["$ref"].rsplit("/", 1)[1]
            for op in DOC["operations"].values()
            if op["action"] == "receive" and op["bindings"]["kafka"]["groupId"]["const"] == service
            for m in op["messages"]
        }
        assert received == set(registered), service


def _constructed_events(service: str) -> set[str]:
    names: set[str] = set()
    for path in (SERVICES_DIR / service).rglob("*.py"):
        if "migrations" in path.parts:
            continue  # data migrations rebuild consumed events to park them; they publish none
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                if name in EVENT_TYPES:
                    names.add(name)
    return names


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_topic_owners_are_the_services_that_build_those_events(service: str) -> None:
    built = _constructed_events(service)
    owned = {n for n, m in EVENT_TYPES.items() if TOPIC_OWNERS[m.topic] == service}
    assert built == owned


def test_every_schema_is_valid_json_schema() -> None:
    for name, schema in DOC["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(schema), name


def example(schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    """A minimal instance of a (validation-mode) pydantic JSON schema."""
    if "$ref" in schema:
        return example(defs[schema["$ref"].rsplit("/", 1)[1]], defs)
    if "anyOf" in schema:
        return example(next(s for s in schema["anyOf"] if s.get("type") != "null"), defs)
    if "const" in schema or "enum" in schema:
        return schema.get("const", (schema.get("enum") or [None])[0])
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        return {k: example(props[k], defs) for k in schema.get("required", [])}
    if kind == "array":
        return [example(schema["items"], defs)] if "items" in schema else []
    if schema.get("format") == "date-time":
        return datetime(2026, 11, 22, 9, 30, tzinfo=UTC).isoformat()
    scalars: dict[str, Any] = {"string": "TS2611220482913", "integer": 1500, "number": 0.5}
    return scalars.get(str(kind), True)


def build_event(model: type[Event]) -> Event:
    schema = model.model_json_schema(ref_template="#/$defs/{model}")
    return model.model_validate(example(schema, schema.get("$defs", {})))


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_what_producers_put_on_the_wire_matches_the_documented_message(name: str) -> None:
    _, value, headers = encode(Envelope(event=build_event(EVENT_TYPES[name]), source="/x"))
    message = DOC["components"]["messages"][name]
    payload = {"$ref": message["payload"]["$ref"], "components": DOC["components"]}
    jsonschema_rs.validator_for(payload).validate(json.loads(value))
    header_schema = {**message["headers"], "components": DOC["components"]}
    header_schema["allOf"] = [header_schema["allOf"][0]]  # ce_source differs: test envelope
    jsonschema_rs.validator_for(header_schema).validate({k: v.decode() for k, v in headers})


async def test_the_gateway_can_serve_it() -> None:
    app = Starlette(routes=[Route(ASYNCAPI_PATH, asyncapi_endpoint)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://g") as c:
        response = await c.get(ASYNCAPI_PATH)
    assert response.status_code == 200
    assert response.json() == asyncapi_document()
