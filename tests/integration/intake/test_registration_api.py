"""POST /v1/complaints over HTTP against a real database and broker."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from services.intake.models import Complaint, platform
from shared.service import Runtime
from tests.builders import auth, complaint

Outbox = platform.models.outbox


async def _counts(rt: Runtime) -> tuple[int, int]:
    async with rt.db.sessions() as s:
        complaints = await s.scalar(select(func.count()).select_from(Complaint))
        events = await s.scalar(select(func.count()).select_from(Outbox))
    return complaints or 0, events or 0


async def test_agent_registers_a_complaint_and_gets_a_ticket_number(intake: Any) -> None:
    client, rt = intake
    r = await client.post("/v1/complaints", json=complaint(), headers=auth("agent"))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["ticket_no"].startswith("TS") and len(body["ticket_no"]) == 15
    assert body["status"] == "received"
    assert body["category"] == "network"
    assert body["msisdn"] == "+8613800138000"
    assert r.headers["location"] == f"/v1/complaints/{body['ticket_no']}"
    # one registration stages TicketReceived, TicketStatusChanged and TicketClassified
    assert await _counts(rt) == (1, 3)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"channel": "hotline", "msisdn": "13800138000"}, "description"),
        (complaint(description="   "), "description"),
        (complaint(msisdn="12345"), "msisdn"),
        (complaint(msisdn="+14155552671"), "msisdn"),
        (complaint(channel="carrier_pigeon"), "channel"),
        (complaint(description="x" * 4001), "description"),
        (complaint(disputed_amount="12.5"), "disputed_amount"),
        (complaint(unexpected="x"), "unexpected"),
    ],
)
async def test_bad_input_is_a_problem_naming_the_field_and_stores_nothing(
    intake: Any, body: dict[str, Any], field: str
) -> None:
    client, rt = intake
    r = await client.post("/v1/complaints", json=body, headers=auth("agent"))
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["status"] == 422
    assert field in [e["field"] for e in problem["errors"]]
    assert field in problem["detail"]
    assert await _counts(rt) == (0, 0)


async def test_a_ten_megabyte_body_is_refused_before_parsing(intake: Any) -> None:
    client, rt = intake
    huge = complaint(description="信" * (10 * 1024 * 1024 // 3))
    r = await client.post("/v1/complaints", json=huge, headers=auth("agent"))
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["field"] == "body"
    assert await _counts(rt) == (0, 0)


async def test_no_token_is_401_and_wrong_role_is_403(intake: Any) -> None:
    client, rt = intake
    r = await client.post("/v1/complaints", json=complaint())
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.headers["content-type"] == "application/problem+json"
    r = await client.post(
        "/v1/complaints", json=complaint(), headers={"Authorization": "Bearer not-a-jwt"}
    )
    assert r.status_code == 401
    r = await client.post("/v1/complaints", json=complaint(), headers=auth("partner"))
    assert r.status_code == 403
    assert "agent" in r.json()["detail"]
    assert await _counts(rt) == (0, 0)
    r = await client.get("/v1/complaints", headers=auth("billing"))
    assert r.status_code == 403


async def test_same_idempotency_key_and_body_returns_the_original_ticket(intake: Any) -> None:
    client, rt = intake
    headers = {**auth("agent"), "Idempotency-Key": "front-end-retry-1"}
    first = await client.post("/v1/complaints", json=complaint(), headers=headers)
    again = await client.post("/v1/complaints", json=complaint(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["ticket_no"] == first.json()["ticket_no"]
    assert again.headers["idempotent-replayed"] == "true"
    assert await _counts(rt) == (1, 3)


async def test_same_idempotency_key_with_another_body_is_422(intake: Any) -> None:
    client, rt = intake
    headers = {**auth("agent"), "Idempotency-Key": "k-2"}
    assert (
        await client.post("/v1/complaints", json=complaint(), headers=headers)
    ).status_code == 201
    r = await client.post("/v1/complaints", json=complaint(description="另一件事"), headers=headers)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "Idempotency-Key"
    assert await _counts(rt) == (1, 3)


async def test_simultaneous_identical_posts_create_one_ticket(intake: Any) -> None:
    client, rt = intake
    headers = {**auth("agent"), "Idempotency-Key": "double-click"}
    results = await asyncio.gather(
        *(client.post("/v1/complaints", json=complaint(), headers=headers) for _ in range(5))
    )
    assert {r.status_code for r in results} == {201}
    assert len({r.json()["ticket_no"] for r in results}) == 1
    assert await _counts(rt) == (1, 3)


async def test_listing_masks_the_number_for_managers_and_pages_stably(intake: Any) -> None:
    client, _ = intake
    for i in range(5):
        r = await client.post(
            "/v1/complaints", json=complaint(description=f"掉线 {i}"), headers=auth("agent")
        )
        assert r.status_code == 201
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (
            await client.get(
                "/v1/complaints",
                params=params,
                headers=auth("room_manager", dept="frontdesk_10086"),
            )
        ).json()
        seen += [c["ticket_no"] for c in page["items"]]
        assert all(c["msisdn"] == "138****8000" for c in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 5
