"""A NUL character in any text field is a 422 naming the field on SQLite and PostgreSQL alike
(PostgreSQL cannot store U+0000: it was a 500 there), and nothing is stored."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select

from services.intake.models import Complaint
from tests.builders import auth, complaint

AGENT = auth("agent", sub="agent-nul")


async def test_nul_in_any_text_field_is_422_naming_it(intake: Any) -> None:
    client, rt = intake
    cases = [
        ("/v1/complaints", complaint(description="掉线\u0000严重"), "description"),
        ("/v1/complaints", complaint(customer_name="张\u0000"), "customer_name"),
        (
            "/tmf-api/troubleTicket/v4/troubleTicket",
            {
                "description": "断网",
                "severity": "major",
                "ticketType": "network",
                "relatedParty": [{"id": "13900139000", "role": "customer"}],
                "note": [{"text": "备注\u0000"}],
            },
            "note.0.text",
        ),
    ]
    for path, body, field in cases:
        r = await client.post(
            path,
            content=json.dumps(body).encode(),
            headers={**AGENT, "content-type": "application/json"},
        )
        assert r.status_code == 422, (path, r.text)
        assert r.json()["errors"][0]["field"] == field
    async with rt.db.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Complaint)) == 0
    ok = await client.post("/v1/complaints", json=complaint(), headers=AGENT)
    assert ok.status_code == 201
