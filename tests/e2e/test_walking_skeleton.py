"""The running system over HTTP, started the way `make run` starts it (separate processes)."""

from __future__ import annotations

import time

import httpx

from tests.builders import auth, complaint
from tests.e2e.conftest import System


def test_a_hotline_complaint_is_routed_and_acknowledged_across_processes(
    system: System,
) -> None:
    with httpx.Client(base_url=system.gateway, headers=auth("agent"), timeout=10) as http:
        started = time.monotonic()
        r = http.post("/v1/complaints", json=complaint())
        assert r.status_code == 201, r.text
        ticket_no = r.json()["ticket_no"]
        handler = None
        while time.monotonic() - started < 15 and handler is None:
            handler = http.get(f"/v1/complaints/{ticket_no}").json()["assignment"][
                "handler_department"
            ]
            if handler is None:
                time.sleep(0.05)
        latency = time.monotonic() - started
        print(f"\nPOST -> assignment visible: {latency * 1000:.0f} ms")
        assert handler == "network_maintenance"

        for _ in range(100):
            sms = http.get("/v1/notifications", params={"ticket_no": ticket_no}).json()["items"]
            if sms:
                break
            time.sleep(0.1)
        assert len(sms) == 1
        assert sms[0]["channel"] == "sms" and sms[0]["recipient"] == "138****8000"
        assert ticket_no in sms[0]["body"] and "投诉编码" in sms[0]["body"]

        for _ in range(100):  # SLA's view may trail the SMS (the topics are not ordered together)
            got = http.get(f"/v1/sla/tickets/{ticket_no}")
            if got.status_code == 200:
                break
            time.sleep(0.1)
        clocks = got.json()["clocks"]
        assert {c["name"] for c in clocks} == {
            "acceptance",
            "first_reply",
            "resolution",
            "regulator",
        }
        eligibility = http.get(f"/v1/refunds/tickets/{ticket_no}/eligibility")
        assert eligibility.json()["refundable"] is True

        index = http.get("/docs").text
        for name in ("intake", "routing", "sla", "refund", "notify"):
            assert f"/{name}/docs" in index
            spec = http.get(f"/{name}/openapi.json")
            assert spec.status_code == 200 and spec.json()["openapi"].startswith("3.")
            assert http.get(f"/{name}/docs").status_code == 200


def test_data_survives_a_restart_and_ctrl_c_stops_cleanly(system: System) -> None:
    with httpx.Client(base_url=system.gateway, headers=auth("agent"), timeout=10) as http:
        ticket_no = http.post("/v1/complaints", json=complaint()).json()["ticket_no"]
    assert system.stop() == 0
    assert system.proc is not None and system.proc.poll() is not None
    system.start()
    with httpx.Client(base_url=system.gateway, headers=auth("agent"), timeout=10) as http:
        r = http.get(f"/v1/complaints/{ticket_no}")
        assert r.status_code == 200 and r.json()["ticket_no"] == ticket_no
        assert http.post("/v1/complaints", json=complaint()).status_code == 201
