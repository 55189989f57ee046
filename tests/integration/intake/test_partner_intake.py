"""Partner intake over Standard Webhooks: signed by the partner's own secret, verified here."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook

from services.intake.models import Complaint
from services.intake.settings import DEV_PARTNER_SECRETS
from tests.builders import complaint

PARTNER = "miit_12300"
SECRET = DEV_PARTNER_SECRETS[PARTNER]
OTHER_SECRET = DEV_PARTNER_SECRETS["consumer_association"]


def _body(external_id: str = "12300-2026-000123", **overrides: Any) -> bytes:
    data = complaint(
        channel="regulator",
        description="用户向工信部申诉：多次投诉宽带断网无人处理",
        source={"org": "miit_12300", "external_id": external_id},
        **overrides,
    )
    return json.dumps(data, ensure_ascii=False).encode()


def _signed(
    body: bytes,
    *,
    msg_id: str = "msg_1",
    secret: str = SECRET,
    partner: str = PARTNER,
    at: datetime | None = None,
) -> dict[str, str]:
    at = at or datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id, at, body.decode())
    return {
        "Partner-Id": partner,
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


async def _count(rt: Any) -> int:
    async with rt.db.sessions() as s:
        return await s.scalar(select(func.count()).select_from(Complaint)) or 0


async def test_a_signed_partner_complaint_is_registered_as_over_level(intake: Any) -> None:
    client, rt = intake
    body = _body()
    r = await client.post("/v1/partner/complaints", content=body, headers=_signed(body))
    assert r.status_code == 201, r.text
    ticket = r.json()
    assert ticket["over_level"] is True
    assert ticket["source"] == {"org": "miit_12300", "external_id": "12300-2026-000123"}
    assert ticket["msisdn"] == "138****8000"  # partners see the number masked
    assert await _count(rt) == 1


@pytest.mark.parametrize(
    "tamper",
    ["bad_signature", "other_partners_secret", "stale", "future", "unknown_partner", "unsigned"],
)
async def test_signature_failures_are_401_and_store_nothing(intake: Any, tamper: str) -> None:
    client, rt = intake
    body = _body()
    headers = _signed(body)
    if tamper == "bad_signature":
        headers = _signed(body + b" ")
    elif tamper == "other_partners_secret":
        headers = _signed(body, secret=OTHER_SECRET)
    elif tamper == "stale":
        headers = _signed(body, at=datetime.now(UTC) - timedelta(minutes=6))
    elif tamper == "future":
        headers = _signed(body, at=datetime.now(UTC) + timedelta(minutes=6))
    elif tamper == "unknown_partner":
        headers = _signed(body, partner="someone_else")
    else:
        headers = {"Partner-Id": PARTNER, "content-type": "application/json"}
    r = await client.post("/v1/partner/complaints", content=body, headers=headers)
    assert r.status_code == 401, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await _count(rt) == 0


async def test_a_replayed_webhook_id_returns_the_original_ticket(intake: Any) -> None:
    client, rt = intake
    body = _body()
    first = await client.post("/v1/partner/complaints", content=body, headers=_signed(body))
    again = await client.post("/v1/partner/complaints", content=body, headers=_signed(body))
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["ticket_no"] == first.json()["ticket_no"]
    assert await _count(rt) == 1


async def test_the_same_external_id_under_new_message_ids_is_one_ticket(intake: Any) -> None:
    client, rt = intake
    body = _body()
    results = await asyncio.gather(
        *(
            client.post(
                "/v1/partner/complaints", content=body, headers=_signed(body, msg_id=f"m{i}")
            )
            for i in range(4)
        )
    )
    assert sorted(r.status_code for r in results) == [200, 200, 200, 201]
    assert len({r.json()["ticket_no"] for r in results}) == 1
    assert await _count(rt) == 1


async def test_bad_partner_payload_is_422_naming_the_field(intake: Any) -> None:
    client, rt = intake
    body = json.dumps(complaint(channel="regulator")).encode()  # no source
    r = await client.post("/v1/partner/complaints", content=body, headers=_signed(body))
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "source"
    assert await _count(rt) == 0


async def test_a_partner_may_transfer_a_complaint_without_a_customer_number(intake: Any) -> None:
    client, rt = intake
    data = json.loads(_body("12300-2026-000777"))
    del data["msisdn"]
    data["no_customer_reason"] = "来信未留联系方式"
    body = json.dumps(data, ensure_ascii=False).encode()
    r = await client.post("/v1/partner/complaints", content=body, headers=_signed(body))
    assert r.status_code == 201, r.text
    assert r.json()["msisdn"] is None
    assert r.json()["no_customer_reason"] == "来信未留联系方式"
    async with rt.db.sessions() as s:
        no = r.json()["ticket_no"]
        stored = await s.scalar(select(Complaint).where(Complaint.ticket_no == no))
    assert stored is not None and stored.msisdn is None
