"""The system as separate processes: the runner (broker, five services, gateway) on free ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest


def _free_block(size: int) -> int:
    """A base port with `size` consecutive free ports after it."""
    for base in range(20000, 60000, 97):
        try:
            socks = []
            for p in range(base, base + size):
                s = socket.socket()
                s.bind(("127.0.0.1", p))
                socks.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port block")


class System:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        base = _free_block(8)
        self.gateway_port = base  # the services listen on base+1 .. base+5
        self.gateway = f"http://127.0.0.1:{base}"
        self.args = [
            "--data-dir",
            str(data_dir),
            "--gateway-port",
            str(base),
            "--port-base",
            str(base),
            "--broker-port",
            str(base + 7),
        ]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = (self.data_dir / "run.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "shared.runner", *self.args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log()
            try:
                if httpx.get(self.gateway + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        raise AssertionError("system not ready:\n" + self.log())

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)  # what Ctrl-C does
        return self.proc.wait(40)

    def log(self) -> str:
        return (self.data_dir / "run.log").read_text(errors="replace")[-4000:]


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    s = System(tmp_path)
    s.start()
    try:
        yield s
    finally:
        if s.proc and s.proc.poll() is None:
            s.stop()
