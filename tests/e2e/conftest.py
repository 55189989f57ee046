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

import asyncpg
import httpx
import pytest

from shared.topology import SERVICE_NAMES
from tests.conftest import _pg_dsn


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
    def __init__(
        self, data_dir: Path, *, replicas: int = 1, env: dict[str, str] | None = None
    ) -> None:
        self.data_dir = data_dir
        self.replicas = replicas
        # the system as tests run it must not depend on the hour CI runs at: quiet hours (which
        # hold non-urgent customer SMS at night) are proven in tests/integration/notify
        self.extra_env = {
            "NOTIFY_QUIET_HOURS_START": "00:00",
            "NOTIFY_QUIET_HOURS_END": "00:00",
            **(env or {}),
        }
        base = _free_block(8 + 10 * (replicas - 1))
        self.gateway_port = base  # replica r of service i listens on base + 10*r + i + 1
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
            "--replicas",
            str(replicas),
        ]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = (self.data_dir / "run.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "shared.runner", *self.args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **self.extra_env},
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


def postgres_env(url: str, prefix: str) -> dict[str, str]:
    """Settings that put every service on PostgreSQL, each in a schema `<prefix>_<name>`."""
    env: dict[str, str] = {}
    for name in SERVICE_NAMES:
        env[f"{name.upper()}_DATABASE_URL"] = url
        env[f"{name.upper()}_DB_SCHEMA"] = f"{prefix}_{name}"
    return env


async def drop_schemas(prefix: str) -> None:
    conn = await asyncpg.connect(_pg_dsn())
    try:
        for name in SERVICE_NAMES:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{prefix}_{name}" CASCADE')
    finally:
        await conn.close()
