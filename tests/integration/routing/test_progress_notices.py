"""Progress notices as seed 004 §3.5 means them: only for a fix still unresolved 4 days after
receipt, to the accepting department, quoting the latest progress; resolving stops them with
one final result notice. The timer is driven with an explicit `now` (no sleeping for days)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import select

from services.routing.app import create_app
from services.routing.handlers import Routing
from services.routing.models import Assignment, platform
from services.routing.settings import RoutingSettings
from shared.broker import Broker
from shared.cloudevents import Envelope
from shared.events import TicketNoteAdded, TicketStatusChanged
from shared.service import Runtime
from tests.builders import classified, consumed, eventually, running, settings_for
from tests.conftest import DbTarget
from tests.integration.platform.fixtures import send

Outbox = platform.models.outbox


async def _notices(rt: Runtime, ticket_no: str) -> list[dict[str, Any]]:
    query = select(Outbox).where(Outbox.event_type == "ProgressNoticeDue", Outbox.key == ticket_no)
    async with rt.db.sessions() as s:
        return [json.loads(r.value) for r in (await s.scalars(query.order_by(Outbox.id))).all()]


async def _fire(rt: Runtime, ticket_no: str, now: datetime) -> bool:
    routing = Routing(rt.settings)  # type: ignore[arg-type]
    async with rt.db.uow() as uow:
        a = await uow.session.get(Assignment, ticket_no)
        assert a is not None
        fired = await routing.fire_progress_notice(uow, a, now)
        await uow.commit()
    return fired


async def _deliver(producer: AIOKafkaProducer, rt: Runtime, *events: Any) -> None:
    for event in events:
        envelope = Envelope(event=event)
        await send(producer, envelope)
        await eventually(lambda envelope=envelope: consumed(rt, envelope.id))


def _status(ticket_no: str, to: str, at: datetime, **kw: Any) -> TicketStatusChanged:
    return TicketStatusChanged(
        ticket_no=ticket_no, from_status="in_progress", to_status=to, actor="a", changed_at=at, **kw
    )


async def test_notices_only_while_unresolved_with_latest_progress_then_one_final_notice(
    db_target: DbTarget, broker: Broker, producer: AIOKafkaProducer
) -> None:
    settings = settings_for(
        RoutingSettings, db_target, broker.bootstrap, scheduler_enabled=False, surge_enabled=False
    )
    now = datetime.now(UTC)
    async with running(create_app(settings)) as (_, rt):
        await _deliver(
            producer,
            rt,
            classified("TS-SLOW", received_at=now - timedelta(days=5)),
            classified("TS-FRESH", received_at=now - timedelta(days=1)),
            classified("TS-QUICK", received_at=now - timedelta(days=2)),
            TicketNoteAdded(
                ticket_no="TS-SLOW",
                author="eng-3",
                text="已定位为华景新城基站传输故障，正在抢修",
                added_at=now - timedelta(hours=3),
            ),
        )
        # a fix running past 4 days owes the accepting department a notice, with its progress
        assert await _fire(rt, "TS-SLOW", now)
        assert not await _fire(rt, "TS-SLOW", now)  # once per period
        assert not await _fire(rt, "TS-FRESH", now)  # not yet 4 days
        [notice] = await _notices(rt, "TS-SLOW")
        assert notice["owner_department"] == "frontdesk_10086" and not notice["final"]
        assert [e["text"] for e in notice["latest"]] == ["已定位为华景新城基站传输故障，正在抢修"]
        # the next one a day later
        assert await _fire(rt, "TS-SLOW", now + timedelta(days=1, minutes=1))

        # resolved: no more notices, one final result notice with the resolution
        later = now + timedelta(days=1, hours=2)
        resolved = _status("TS-SLOW", "resolved", later, resolution="光缆已更换")
        await _deliver(producer, rt, resolved, _status("TS-QUICK", "resolved", now))
        assert not await _fire(rt, "TS-SLOW", now + timedelta(days=5))
        notices = await _notices(rt, "TS-SLOW")
        assert [n["final"] for n in notices] == [False, False, True]
        assert notices[-1]["resolution"] == "光缆已更换"
        # resolved within 4 days: it never had notices, so no final one either
        assert await _notices(rt, "TS-QUICK") == []
