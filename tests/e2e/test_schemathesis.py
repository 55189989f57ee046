"""Schemathesis against every service's OpenAPI, through the gateway of a running system:
no 5xx, every response matches its schema. Bounded: a fixed number of examples per
operation and a fixed seed, so the run is repeatable and takes about a minute."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shared.auth import ROLES, mint_token
from shared.settings import DEV_JWT_SECRET
from shared.topology import SERVICE_NAMES
from tests.e2e.conftest import System

EXAMPLES = 10
SEED = 20261122


@pytest.fixture(scope="module")
def running_system(tmp_path_factory: pytest.TempPathFactory) -> System:
    s = System(tmp_path_factory.mktemp("schemathesis"))
    s.start()
    yield s  # type: ignore[misc]
    if s.proc and s.proc.poll() is None:
        s.stop()


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_no_server_errors_and_every_response_matches_its_schema(
    running_system: System, service: str, tmp_path: Path
) -> None:
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    assert st, "schemathesis is a pinned dev dependency"
    token = mint_token(secret=DEV_JWT_SECRET, sub="schemathesis", roles=list(ROLES))
    done = subprocess.run(
        [
            st, "run", f"{running_system.gateway}/{service}/openapi.json",
            "-H", f"Authorization: Bearer {token}",
            "--checks", "not_a_server_error,response_schema_conformance",
            "--phases", "examples,fuzzing",
            "--max-examples", str(EXAMPLES), "--seed", str(SEED), "--workers", "2",
            "--report-dir", str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    summary = re.search(r"(\d+) generated, (.*)", done.stdout)
    print(f"schemathesis {service}: {summary.group(0) if summary else 'no summary'}")
    assert done.returncode == 0, done.stdout[-6000:] + "\n" + running_system.log()
    assert summary and int(summary.group(1)) > 0
