"""The migrations that retire the services' holding tables park what those held: the
event comes back under its ticket and applies when the parent arrives."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from sqlalchemy import select, text

from services.notify.models import platform as notify_platform
from services.sla.models import platform as sla_platform
from shared.db import Database
from shared.migrations import upgrade
from tests.conftest import DbTarget
from tests.integration.platform.fixtures import migrate


async def _to(service: str, db_target: DbTarget, revision: str) -> None:
    await asyncio.to_thread(upgrade, service, db_target.url, db_target.schema, revision)


async def _parked(db: Database, model: type) -> list[tuple[str, str, dict[str, object]]]:
    async with db.sessions() as s:
        rows = (await s.scalars(select(model).order_by(model.id))).all()
    return [(r.key, r.event_type, json.loads(r.value)) for r in rows]


async def test_an_early_handler_department_becomes_a_parked_assignment(
    db_target: DbTarget,
) -> None:
    await _to("sla", db_target, "0002_sla_early_handler")
    db = Database(db_target.url, schema=db_target.schema)
    try:
        async with db.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO early_handler (ticket_no, handler_department, at)"
                    " VALUES ('TS-H', 'billing_support', :at)"
                ),
                {"at": datetime.now(UTC)},
            )
        await migrate("sla", db_target)
        [(key, kind, data)] = await _parked(db, sla_platform.models.parked)
        assert (key, kind) == ("TS-H", "TicketAssigned")
        assert data["handler_department"] == "billing_support"
    finally:
        await db.dispose()


async def test_early_customer_messages_become_their_parked_triggers(db_target: DbTarget) -> None:
    await _to("notify", db_target, "0003_notify_parked_event")
    db = Database(db_target.url, schema=db_target.schema)
    try:
        async with db.engine.begin() as conn:
            for source, template, values in (
                ("e-refund", "refund_approved", {"amount_yuan": "150.50"}),
                ("e-surge", "surge_resolved", {"resolution": "基站故障已修复"}),
            ):
                await conn.execute(
                    text(
                        "INSERT INTO early_customer_message (source_event_id, template,"
                        " ticket_no, \"values\", at) VALUES (:s, :t, 'TS-M', :v, :at)"
                    ),
                    {"s": source, "t": template, "v": json.dumps(values), "at": datetime.now(UTC)},
                )
        await migrate("notify", db_target)
        parked = await _parked(db, notify_platform.models.parked)
        assert [(k, t) for k, t, _ in parked] == [
            ("TS-M", "RefundApproved"),
            ("TS-M", "SurgeResolved"),
        ]
        assert parked[0][2]["amount_fen"] == 15050
        assert parked[1][2]["resolution"] == "基站故障已修复"
    finally:
        await db.dispose()
