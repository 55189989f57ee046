"""Same content, different words (issue 18), as a user meets it: four customers describe the
翠苑三区 outage in their own words at one 10086 desk within one shift, through the gateway, on
the embedded broker and the five services as separate processes."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from services.routing.staff_alerts import parse_shift_starts
from tests.builders import auth, complaint
from tests.e2e.conftest import System

WORDINGS = [  # the four wordings; agents typed the area for two of them
    ("翠苑三区从今天早上开始手机完全没有信号", "翠苑三区"),
    ("我住翠苑三区，今天一早起手机就没信号了", None),
    ("翠苑小区三区这边移动信号全断了", "翠苑小区三区"),
    ("翠苑三区今天移动没信号，家里人手机都显示无服务", None),
]
UNRELATED = [  # the same desk, the same shift, another problem
    "翠苑三区这几天晚上手机网速特别慢，刷视频一直转圈",  # the same place, another symptom
    "这个月话费多扣了30元，我没有办过任何新业务，要求退还",  # another category
]
DESK = "desk-cuiyuan-1"


def _clear_of_a_shift_change(margin: timedelta = timedelta(minutes=2)) -> None:
    """Post all six inside one shift: if a shift (08:00/20:00 Shanghai) starts within the
    margin, wait until it has begun. This only chooses when to start, it asserts nothing."""
    sh = ZoneInfo("Asia/Shanghai")
    now = datetime.now(sh)
    for start in parse_shift_starts("08:00,20:00"):
        for day in (now.date(), now.date() + timedelta(days=1)):
            at = datetime.combine(day, start, sh)
            if timedelta(0) <= at - now < margin:
                time.sleep((at - now).total_seconds() + 1)
                return


def _post(http: httpx.Client, n: int, text: str, location: str | None) -> str:
    body = complaint(description=text, msisdn=f"1380013{n:04d}", desk_id=DESK)
    if location:
        body["location"] = location
    r = http.post("/v1/complaints", json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["ticket_no"])


def _cluster(http: httpx.Client, tickets: list[str], size: int) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    seen: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        seen = http.get("/v1/surges", params={"min_count": 1, "limit": 200}).json()
        for c in seen:
            if set(tickets) <= set(c["tickets"]) and c["count"] >= size:
                return c  # type: ignore[no-any-return]
        time.sleep(0.2)
    raise AssertionError(f"no cluster of {size} with {tickets}: {seen}")


def test_four_wordings_of_one_outage_at_one_desk_form_one_cluster_and_alert_the_desk(
    system: System,
) -> None:
    _clear_of_a_shift_change()
    with httpx.Client(base_url=system.gateway, headers=auth("agent"), timeout=10) as http:
        outage = [_post(http, i, text, area) for i, (text, area) in enumerate(WORDINGS)]
        others = [_post(http, 10 + i, text, None) for i, text in enumerate(UNRELATED)]
        cluster = _cluster(http, outage, 4)
        for ticket in others:  # wait until each is routed and seen by the detector
            _cluster(http, [ticket], 1)
        detail = http.get(f"/v1/surges/{cluster['id']}").json()

    assert sorted(detail["tickets"]) == sorted(outage)  # one cluster, nobody else in it
    desk = [a for a in detail["alerts"] if a["rule"] == "front_desk"]
    assert len(desk) == 1 and desk[0]["scope"] == DESK
    assert desk[0]["notify_role"] == "shift_leader" and desk[0]["count"] >= 3
    joined = [m for m in detail["members"] if m["reasons"]]
    assert len(joined) == 3 and all(m["place"] == "翠苑" for m in joined)
    assert all(m["symptom"] == "coverage" for m in joined)
