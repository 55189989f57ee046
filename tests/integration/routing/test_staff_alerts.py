"""Surge alerts reach people (seed 004 §3.5): routing's staff directory names the shift
leader, the department's duty desk and its manager; notify mails (and texts) each of them one
digest per cluster and alert, over the real broker, SMTP and SMPP peers; the department's
first answer is a command that ends the 1-hour clock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import select

from services.notify.models import Notification
from services.notify.sms.sink import SmppSink
from services.routing.staff_alerts import shift_of
from shared.db import utcnow
from tests.builders import auth, eventually
from tests.integration.notify.conftest import Mailbox, NotifyFactory
from tests.integration.routing.staff import (
    AGENT,
    DAY_LEADER,
    DUTY,
    MANAGER,
    NIGHT_LEADER,
    OPS,
    OUTAGE,
    STARTS,
    cluster_of,
    complain,
    directory,
    in_one_shift,
    staff_alerts,
)


async def test_four_at_a_desk_mail_the_shift_leader_on_duty_once_and_ask_the_department(
    routing: Any,
    producer: AIOKafkaProducer,
    notify_app: NotifyFactory,
    mailbox: Mailbox,
    smsc: SmppSink,
) -> None:
    client, rt = routing
    await directory(client)
    base = in_one_shift(timedelta(minutes=5))
    leader = DAY_LEADER if shift_of(base, STARTS, "Asia/Shanghai") == "08:00" else NIGHT_LEADER
    async with notify_app(consumers_enabled=True) as notify:
        for i in range(4):
            await complain(producer, f"SA-{i}", OUTAGE[i], base + timedelta(minutes=i))
        cluster = await cluster_of(client, "SA-0", 4)
        [desk] = await eventually(lambda: staff_alerts(rt, "front_desk"))
        assert desk["count"] == 3 and desk["unit"] == "desk-7" and desk["urgent"]
        assert [p["name"] for p in desk["recipients"]] == [leader["name"]]
        [ask] = await eventually(lambda: staff_alerts(rt, "department"))
        assert [p["name"] for p in ask["recipients"]] == [DUTY["name"]]
        assert ask["due_at"] is not None

        async def delivered() -> bool:
            return bool(mailbox.to(leader["email"])) and bool(mailbox.to(DUTY["email"]))

        await eventually(delivered, within=20)
        [mail] = mailbox.to(leader["email"])
        assert str(mail["Subject"]) == "【同内容投诉预警】10086前台desk-7本班次已受理3单同内容投诉"
        text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert text.startswith(f"{leader['name']}班长您好：") and "网络维护部" in text
        [ask_mail] = mailbox.to(DUTY["email"])
        assert "请于" in ask_mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]

        async def texted() -> list[str]:
            return _sms_to(smsc, "86" + leader["mobile"])

        [sms] = await eventually(texted, within=20)
        assert sms.startswith("【中国移动】投诉预警：") and "desk-7" in sms
        # the 4th complaint grows the digest (the cluster) without a second message
        assert cluster["count"] == 4 and len(await staff_alerts(rt, "front_desk")) == 1
        assert len(mailbox.to(leader["email"])) == 1
        assert len(_sms_to(smsc, "86" + leader["mobile"])) == 1
        async with notify.rt.db.sessions() as s:
            rows = (await s.scalars(select(Notification))).all()
        assert not any(r.recipient == NIGHT_LEADER["email"] for r in rows if leader is DAY_LEADER)


def _sms_to(smsc: SmppSink, number: str) -> list[str]:
    return [text for dest, text in smsc.messages if dest == number]


async def test_the_first_answer_command_ends_the_clock_and_stops_counting(
    routing: Any, producer: AIOKafkaProducer
) -> None:
    client, rt = routing
    base = in_one_shift(timedelta(minutes=5))
    for i in range(3):
        await complain(producer, f"SF-{i}", OUTAGE[i], base + timedelta(minutes=i))
    cluster = await cluster_of(client, "SF-0", 3)
    await eventually(lambda: staff_alerts(rt, "department"))
    url = f"/v1/surges/{cluster['id']}/first-answer"
    noc = auth("agent", sub="noc-1", dept="network_maintenance")
    bad = await client.post(url, json={"text": ""}, headers=noc)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "text"
    billing = auth("agent", dept="billing_support")
    other = await client.post(url, json={"text": "已知悉"}, headers=billing)
    assert other.status_code == 403
    answer = {"text": "华景新城基站传输中断，已派人抢修，预计今晚恢复"}
    r = await client.post(url, json=answer, headers=noc)
    assert r.status_code == 202 and r.json()["answered_by"] == "noc-1"
    again = await client.post(url, json=answer, headers=noc)
    assert again.status_code == 200 and again.json()["answered_at"] == r.json()["answered_at"]
    late = await client.post(url, json={"text": "另一个说法"}, headers=noc)
    assert late.status_code == 409
    await complain(producer, "SF-3", OUTAGE[3], utcnow() + timedelta(seconds=1))

    async def counted() -> dict[str, Any] | None:
        c = (await client.get(f"/v1/surges/{cluster['id']}", headers=AGENT)).json()
        return c if c["count"] == 4 and c["answered_at"] else None

    after = await eventually(counted)
    assert after["count_before_answer"] == 3  # counting for 50/200 ran to the answer only
    assert after["answer_text"] == answer["text"]


async def test_without_an_answer_the_department_manager_is_alerted_once_after_the_hour(
    routing: Any, producer: AIOKafkaProducer
) -> None:
    client, rt = routing
    await directory(client)
    base = in_one_shift(timedelta(hours=2))
    for i in range(3):
        await complain(producer, f"SO-{i}", OUTAGE[i], base + timedelta(minutes=i))
    await cluster_of(client, "SO-0", 3)
    [overdue] = await eventually(lambda: staff_alerts(rt, "answer_overdue"))
    assert [p["name"] for p in overdue["recipients"]] == [MANAGER["name"]] and overdue["urgent"]
    await complain(producer, "SO-3", OUTAGE[3], base + timedelta(minutes=4))
    await cluster_of(client, "SO-0", 4)
    assert len(await staff_alerts(rt, "answer_overdue")) == 1


async def test_the_directory_refuses_what_it_cannot_use(routing: Any) -> None:
    client, _ = routing
    url = "/v1/staff-directory/shift_leader/desk-7"
    cases = [
        ({"holders": [{"name": "王芳"}]}, "holders.0.email"),
        ({"holders": [{"name": "王芳", "mobile": "12345"}]}, "holders.0.mobile"),
        ({"holders": [{"name": "王芳", "email": "not-an-address"}]}, "holders.0.email"),
        ({"holders": [{**DAY_LEADER, "shift": "09:00"}]}, "holders.0.shift"),
    ]
    for body, field in cases:
        r = await client.put(url, json=body, headers=OPS)
        assert r.status_code == 422, r.text
        assert field in [e["field"] for e in r.json()["errors"]], r.json()
    r = await client.put(
        "/v1/staff-directory/department_manager/network_maintenance",
        json={"holders": [{**MANAGER, "shift": "08:00"}]},
        headers=OPS,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "holders.0.shift"
    nobody = {"holders": []}
    r = await client.put("/v1/staff-directory/janitor/x", json=nobody, headers=OPS)
    assert r.status_code == 422
    r = await client.put(url, json={"holders": [DAY_LEADER]}, headers=AGENT)
    assert r.status_code == 403
    assert (await client.get("/v1/staff-directory", headers=AGENT)).json() == []
    for _ in range(2):  # a retry leaves the same state
        r = await client.put(url, json={"holders": [DAY_LEADER]}, headers=OPS)
        assert r.status_code == 200
    query = {"role": "shift_leader"}
    listed = (await client.get("/v1/staff-directory", params=query, headers=AGENT)).json()
    assert [(h["name"], h["mobile"]) for h in listed] == [("王芳", "+8613900139001")]
