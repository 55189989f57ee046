"""Reconciliation for runs of the whole system: a client stream that retries until each
complaint lands, and the check that every complaint became one routed, clocked and
acknowledged ticket."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import httpx

from tests.builders import auth, complaint
from tests.e2e.conftest import System

AGENT = auth("agent")


def pid_listening_on(port: int) -> int:
    """The pid of the process whose command line names this port (a runner child)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--port" in args and str(port).encode() in args:
            return int(entry.name)
    raise AssertionError(f"no process on port {port}")


class Stream:
    """Posts complaints at a steady rate from a thread, retrying each until it lands."""

    def __init__(self, gateway: str, rate: float) -> None:
        self.gateway, self.period = gateway, 1 / rate
        self.sent: dict[str, str] = {}  # idempotency key -> ticket_no
        self.retries = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _post(self, http: httpx.Client, key: str) -> None:
        body = complaint(description=f"家里信号很差，经常掉线（{key[:8]}）")
        while True:
            try:
                r = http.post(
                    "/v1/complaints", json=body, headers={**AGENT, "Idempotency-Key": key}
                )
                if r.status_code == 201:
                    self.sent[key] = r.json()["ticket_no"]
                    return
            except httpx.TransportError:
                pass
            self.retries += 1
            time.sleep(0.2)

    def _run(self) -> None:
        with httpx.Client(base_url=self.gateway, timeout=10) as http:
            while not self.stop.is_set():
                self._post(http, uuid.uuid4().hex)
                time.sleep(self.period)

    def __enter__(self) -> Stream:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(60)


def reconcile(system: System, tickets: set[str], within: float = 90) -> dict[str, int]:
    """Wait until every ticket is routed, clocked and acknowledged once; return the counts."""
    deadline = time.monotonic() + within
    with httpx.Client(base_url=system.gateway, headers=AGENT, timeout=10) as http:
        pending = set(tickets)
        sms_total = 0
        while pending and time.monotonic() < deadline:
            for t in sorted(pending):
                c = http.get(f"/v1/complaints/{t}")
                clocks = http.get(f"/v1/sla/tickets/{t}")
                sms = http.get("/v1/notifications", params={"ticket_no": t})
                if c.status_code != 200 or clocks.status_code != 200 or sms.status_code != 200:
                    continue
                acks = [n for n in items(sms.json()) if n["channel"] == "sms"]
                assert len(acks) <= 1, f"{t}: {len(acks)} acknowledgement SMS"
                routed = c.json()["assignment"]["handler_department"]
                if routed and len(clocks.json()["clocks"]) == 4 and len(acks) == 1:
                    pending.discard(t)
                    sms_total += 1
            time.sleep(0.5)
        assert not pending, (
            f"{len(pending)} of {len(tickets)} not reconciled: {sorted(pending)[:5]}"
        )
        listed = all_tickets(http)
    assert len(listed) == len(set(listed)), "duplicate tickets"
    return {"in": len(tickets), "tickets": len(tickets & set(listed)), "sms": sms_total}


def items(body: object) -> list[dict[str, object]]:
    return body["items"] if isinstance(body, dict) else body  # type: ignore[return-value, index]


def all_tickets(http: httpx.Client) -> list[str]:
    out: list[str] = []
    cursor = None
    while True:
        page = http.get(
            "/v1/complaints", params={"limit": 200, **({"cursor": cursor} if cursor else {})}
        ).json()
        out += [c["ticket_no"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            return out
