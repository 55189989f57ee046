"""What ops scrape and read from the running system: every service's /metrics, JSON logs with
masked numbers, a trace id carried from the caller's HTTP request across Kafka, and the
AsyncAPI catalogue next to the OpenAPI docs."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from shared.events import TICKET_TOPIC
from shared.topology import SERVICES
from tests.builders import auth, complaint
from tests.e2e.conftest import System

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def _samples(base: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = httpx.get(base + "/metrics", timeout=10).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _value(samples: dict[Any, float], name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def _until(probe: Callable[[], Any], within: float = 20.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def _outbox_headers(system: System, service: str, event_type: str) -> dict[str, str]:
    with sqlite3.connect(system.data_dir / f"{service}.db") as db:
        row = db.execute(
            "SELECT headers FROM outbox_message WHERE event_type = ? ORDER BY id LIMIT 1",
            (event_type,),
        ).fetchone()
    return dict(json.loads(row[0])) if row else {}


def test_metrics_logs_traces_and_the_event_catalogue(system: System) -> None:
    port = {s.name: system.gateway_port + i + 1 for i, s in enumerate(SERVICES)}
    url = {name: f"http://127.0.0.1:{p}" for name, p in port.items()}
    with httpx.Client(base_url=system.gateway, headers=auth("agent"), timeout=10) as http:
        r = http.post("/v1/complaints", json=complaint(), headers={"traceparent": TRACEPARENT})
        assert r.status_code == 201, r.text
        ticket_no = r.json()["ticket_no"]
        assert http.post("/v1/complaints", json={"channel": "hotline"}).status_code == 422

        intake = _samples(url["intake"])
        posted = {"method": "POST", "route": "/v1/complaints"}
        assert _value(intake, "http_requests_total", **posted, status="201") == 1
        assert _value(intake, "http_requests_total", **posted, status="422") == 1
        assert _value(intake, "http_request_duration_seconds_count", **posted, status="201") == 1
        assert _value(intake, "outbox_backlog", service="intake") is not None
        assert _until(
            lambda: _value(
                _samples(url["intake"]),
                "events_published_total",
                topic=TICKET_TOPIC,
                type="TicketReceived",
            )
        )

        routing = _until(
            lambda: (
                s
                if _value(
                    s := _samples(url["routing"]),
                    "events_consumed_total",
                    group="routing",
                    type="TicketClassified",
                )
                else None
            )
        )
        assert routing, "routing never counted the TicketClassified it consumed"
        lags = [v for (name, _), v in routing.items() if name == "kafka_consumer_lag"]
        assert lags and min(lags) >= 0

        assert _until(
            lambda: _value(
                _samples(url["notify"]), "notifications_total", channel="sms", outcome="sent"
            )
        )
        sla = _until(
            lambda: s if _value(s := _samples(url["sla"]), "sla_clocks", state="running") else None
        )
        assert sla and _value(sla, "sla_clocks", state="running") == 4
        assert _value(_samples(url["refund"]), "refunds_pending") == 0
        assert (
            _value(
                _samples(system.gateway),
                "http_requests_total",
                **{"method": "POST", "route": "/{path:path}", "status": "201"},
            )
            == 1
        )

        # The caller's trace id rides the outbox and Kafka headers from intake into routing.
        assert TRACE_ID in _outbox_headers(system, "intake", "TicketReceived")["traceparent"]
        assigned = _until(lambda: _outbox_headers(system, "routing", "TicketAssigned"))
        assert TRACE_ID in assigned["traceparent"]

        catalogue = http.get("/asyncapi.json").json()
        assert catalogue["asyncapi"].startswith("3.") and "TicketReceived" in str(catalogue)
        assert "/asyncapi.json" in http.get("/docs").text

    log = (system.data_dir / "run.log").read_text()
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert lines and all(line["service"] and line["level"] for line in lines)
    [registered] = [line for line in lines if line["message"] == "complaint registered"]
    assert registered["service"] == "intake" and registered["trace_id"] == TRACE_ID
    assert registered["ticket_no"] == ticket_no
    [dispatched] = [line for line in lines if line["message"] == "ticket dispatched"]
    assert dispatched["service"] == "routing" and dispatched["trace_id"] == TRACE_ID
    assert dispatched["ticket_no"] == ticket_no and dispatched["event_id"]
    assert "[notify sink] SMS to 138****8000" in log
    assert "13800138000" not in log
