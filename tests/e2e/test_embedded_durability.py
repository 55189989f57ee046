"""The embedded broker keeps its log in memory; these prove nothing is lost with it.

Notify is paused (SIGSTOP) so the tickets' events are relayed and marked sent but not yet
consumed by it; then the broker loses everything:
- kill -9 of the broker (the runner restarts it, empty);
- Ctrl-C of the runner (a bounded drain that cannot finish, everything stops), and a restart.
Each is followed by a reconciliation: every complaint a ticket, routed, with its clocks and
one acknowledgement SMS recorded.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
import uuid
from pathlib import Path

import httpx
import pytest

from shared.topology import SERVICE_NAMES
from tests.builders import complaint
from tests.e2e.conftest import System
from tests.e2e.reconcile import AGENT, pid_listening_on, reconcile
from tests.e2e.test_faults import _broker_pid

N = 20


@pytest.fixture
def quick_stop(tmp_path: Path) -> System:
    """A system whose Ctrl-C gives up draining after 3 s (notify is paused: it cannot)."""
    return System(tmp_path, env={"RUN_DRAIN_TIMEOUT_S": "3"})


def _post(system: System, n: int) -> set[str]:
    tickets = set()
    with httpx.Client(base_url=system.gateway, headers=AGENT, timeout=10) as http:
        for i in range(n):
            body = complaint(description=f"家里信号很差，经常掉线（{i}）")
            r = http.post(
                "/v1/complaints", json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
            )
            assert r.status_code == 201, r.text
            tickets.add(r.json()["ticket_no"])
    return tickets


def _unsent(system: System, service: str) -> int:
    with sqlite3.connect(system.data_dir / f"{service}.db") as con:
        row = con.execute("SELECT count(*) FROM outbox_message WHERE sent_at IS NULL").fetchone()
        return int(row[0])


def _wait_relayed_past_paused_notify(system: System, tickets: set[str]) -> None:
    """Every ticket routed and clocked, and every outbox but notify's drained: the events
    notify needs sit on the broker, marked sent, unread."""
    deadline = time.monotonic() + 60
    with httpx.Client(base_url=system.gateway, headers=AGENT, timeout=10) as http:
        while time.monotonic() < deadline:
            ready = all(
                http.get(f"/v1/complaints/{t}").json()["assignment"]["handler_department"]
                and len(http.get(f"/v1/sla/tickets/{t}").json().get("clocks", [])) == 4
                for t in tickets
            )
            others = [s for s in SERVICE_NAMES if s != "notify"]
            if ready and not any(_unsent(system, s) for s in others):
                return
            time.sleep(0.5)
    raise AssertionError("events were not relayed in time:\n" + system.log())


def _log(system: System) -> str:
    return (system.data_dir / "run.log").read_text(errors="replace")


def _pause_notify(system: System) -> int:
    base = int(system.args[system.args.index("--port-base") + 1])
    pid = pid_listening_on(base + 1 + SERVICE_NAMES.index("notify"))
    os.kill(pid, signal.SIGSTOP)
    return pid


def test_a_broker_killed_with_relayed_but_unconsumed_events_loses_no_acknowledgement(
    system: System,
) -> None:
    notify = _pause_notify(system)
    try:
        tickets = _post(system, N)
        _wait_relayed_past_paused_notify(system, tickets)
        os.kill(_broker_pid(system), signal.SIGKILL)
        time.sleep(2)  # the runner notices and starts an empty broker
    finally:
        os.kill(notify, signal.SIGCONT)
    figures = reconcile(system, tickets, within=120)
    print(f"kill -9 the broker with {N} tickets unread by notify: {figures}")
    assert "broker exited" in _log(system) and "re-publishing" in _log(system)
    assert figures["in"] == figures["tickets"] == figures["sms"] == N


def test_ctrl_c_with_relayed_but_unconsumed_events_and_a_restart_lose_no_acknowledgement(
    quick_stop: System,
) -> None:
    system = quick_stop
    system.start()
    try:
        notify = _pause_notify(system)
        tickets = _post(system, N)
        _wait_relayed_past_paused_notify(system, tickets)
        assert system.proc is not None
        system.proc.send_signal(signal.SIGINT)  # what Ctrl-C does; the runner resumes notify
        assert system.proc.wait(60) == 0
        with pytest.raises(ProcessLookupError):
            os.kill(notify, 0)
        stopped = _log(system).split("[run] stopping with work left", 1)
        assert len(stopped) == 2 and "notify" in stopped[1].splitlines()[0]
        system.start()
        figures = reconcile(system, tickets, within=120)
        print(f"Ctrl-C with {N} tickets unread by notify, then make run again: {figures}")
        assert figures["in"] == figures["tickets"] == figures["sms"] == N
    finally:
        if system.proc and system.proc.poll() is None:
            system.stop()
