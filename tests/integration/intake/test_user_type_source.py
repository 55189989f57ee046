"""Whether a customer is prepaid decides front-line refund authority (seed 004 §2.5), so it is
a fact intake records only from a trusted source (the customer-profile integration's role),
with who asserted it, never from whatever a filer writes in the request body."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select

from services.intake.models import Complaint, platform
from shared.auth import mint_token
from shared.settings import DEV_JWT_SECRET
from tests.builders import auth, complaint

TMF = "/tmf-api/troubleTicket/v4/troubleTicket"
PROFILE_DESK = {
    "Authorization": "Bearer "
    + mint_token(
        secret=DEV_JWT_SECRET,
        sub="desk-app",
        roles=["frontline", "customer_profile"],
        dept="frontdesk_10086",
    )
}


async def _count(rt: Any) -> int:
    async with rt.db.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(Complaint)) or 0)


async def test_a_filer_who_states_her_customer_prepaid_is_refused_and_nothing_is_recorded(
    intake: Any,
) -> None:
    client, rt = intake
    for headers in (auth("agent"), auth("frontline"), auth("leadership")):
        r = await client.post(
            "/v1/complaints", json=complaint(user_type="prepaid"), headers=headers
        )
        assert r.status_code in (403, 422), r.text
        if r.status_code == 422:
            assert r.headers["content-type"].startswith("application/problem+json")
            assert [e["field"] for e in r.json()["errors"]] == ["user_type"]
    assert await _count(rt) == 0


async def test_the_customer_profile_source_records_user_type_and_who_asserted_it(
    intake: Any,
) -> None:
    client, rt = intake
    r = await client.post(
        "/v1/complaints", json=complaint(user_type="prepaid"), headers=PROFILE_DESK
    )
    assert r.status_code == 201, r.text
    ticket_no = r.json()["ticket_no"]
    async with rt.db.sessions() as s:
        c = await s.scalar(select(Complaint).where(Complaint.ticket_no == ticket_no))
        rows = (
            await s.scalars(
                select(platform.models.outbox).where(
                    platform.models.outbox.event_type == "TicketReceived"
                )
            )
        ).all()
    assert c is not None and c.user_type == "prepaid"
    assert c.details["user_type_asserted_by"] == "desk-app"
    assert [json.loads(row.value)["user_type"] for row in rows] == ["prepaid"]


async def test_a_complaint_filed_without_user_type_records_none(intake: Any) -> None:
    client, rt = intake
    r = await client.post("/v1/complaints", json=complaint(), headers=auth("agent"))
    assert r.status_code == 201, r.text
    async with rt.db.sessions() as s:
        c = await s.scalar(select(Complaint))
    assert c is not None and c.user_type is None and "user_type_asserted_by" not in c.details
