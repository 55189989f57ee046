"""Faults against the running system, each followed by a reconciliation: N complaints in →
N tickets, N acknowledgement SMS, no duplicates, every ticket routed and its clocks present.

- every service killed with SIGKILL mid-stream (the runner restarts it);
- the broker frozen with SIGSTOP for a while (intake keeps accepting into its outbox; the
  backlog drains after SIGCONT).
Clients behave like real front-ends: each complaint has its own Idempotency-Key and is
retried on a 5xx or a dropped connection until it gets its 201.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

from shared.topology import SERVICE_NAMES
from tests.e2e.conftest import System
from tests.e2e.reconcile import Stream, pid_listening_on, reconcile


def _broker_pid(system: System) -> int:
    port = system.args[system.args.index("--broker-port") + 1]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"tansu" in cmd and port.encode() in cmd:
            return int(entry.name)
    raise AssertionError("broker process not found")


def test_every_service_killed_mid_stream_loses_and_doubles_nothing(system: System) -> None:
    base = int(system.args[system.args.index("--port-base") + 1])
    with Stream(system.gateway, rate=8) as stream:
        time.sleep(2)
        for i in range(1, len(SERVICE_NAMES) + 1):  # services listen on port-base + 1..5
            os.kill(pid_listening_on(base + i), signal.SIGKILL)
            time.sleep(3)
    figures = reconcile(system, set(stream.sent.values()))
    print(f"kill -9 each service: {figures} (client retries: {stream.retries})")
    assert figures["in"] == figures["tickets"] == figures["sms"] > 20


def test_a_frozen_broker_grows_the_outbox_which_drains_after(system: System) -> None:
    broker = _broker_pid(system)
    db = system.data_dir / "intake.db"
    with Stream(system.gateway, rate=8) as stream:
        time.sleep(1)
        os.kill(broker, signal.SIGSTOP)
        try:
            time.sleep(6)
            backlog = _unsent(db)
        finally:
            os.kill(broker, signal.SIGCONT)
        time.sleep(2)
    figures = reconcile(system, set(stream.sent.values()))
    drained = _unsent(db)
    print(f"broker frozen 6 s: outbox backlog {backlog} -> {drained}; {figures}")
    assert backlog > 10 and drained == 0
    assert figures["in"] == figures["tickets"] == figures["sms"]


def _unsent(db: Path) -> int:
    with sqlite3.connect(db) as con:
        return int(
            con.execute("SELECT count(*) FROM outbox_message WHERE sent_at IS NULL").fetchone()[0]
        )
