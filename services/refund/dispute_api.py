"""SP dispute HTTP API: open the proof window, record the SP's proof, read a dispute."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Header, Response

from services.refund import disputes
from services.refund.commands import OpenSpDispute, RecordSpProof
from services.refund.deps import (
    CONFLICTS,
    DisputeReader,
    Requester,
    Rt,
    Rules,
    SpProver,
    actor,
    amount_fen,
)
from services.refund.models import SpDispute
from services.refund.schemas import SpDisputeCreate, SpDisputeRead, SpProofBody
from shared.errors import PROBLEM_RESPONSES, NotFound
from shared.service import Runtime
from shared.usecase import IdempotencyKey, run, run_create

router = APIRouter(prefix="/v1/sp-disputes", tags=["sp-disputes"], responses=PROBLEM_RESPONSES)


async def _read(rt: Runtime, dispute_id: str) -> SpDisputeRead:
    async with rt.db.sessions() as session:
        dispute = await session.get(SpDispute, dispute_id)
    if dispute is None:
        raise NotFound(f"no SP dispute {dispute_id}")
    return SpDisputeRead.model_validate(dispute)


@router.post(
    "",
    status_code=201,
    response_model=SpDisputeRead,
    summary="Dispute an SP charge: the SP has the proof window (15 days) to prove it",
)
async def open_dispute(
    body: SpDisputeCreate,
    principal: Requester,
    rt: Rt,
    rules: Rules,
    response: Response,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> SpDisputeRead:
    """Without proof by `proof_due_at` a provisional refund of the charge is requested
    automatically (once), and decided by the authority limits like any other refund."""
    cmd = OpenSpDispute(
        ticket_no=body.ticket_no,
        sp_code=body.sp_code,
        charge_amount_fen=amount_fen(body.charge_amount, "charge_amount", rules),
        reason=body.reason,
        actor=actor(principal),
        paid=body.paid,
    )
    created = await run_create(
        rt.idempotent,
        partial(disputes.open_sp_dispute, rules=rules),
        cmd,
        idempotency=IdempotencyKey(
            f"sp-disputes:{principal.sub}", idempotency_key, body.model_dump(mode="json")
        ),
        resource_id=lambda dispute: dispute.id,
    )
    if created.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/v1/sp-disputes/{created.resource_id}"
    return await _read(rt, created.resource_id)


@router.get("/{dispute_id}", response_model=SpDisputeRead, summary="One SP dispute")
async def get_dispute(dispute_id: str, _: DisputeReader, rt: Rt) -> SpDisputeRead:
    return await _read(rt, dispute_id)


@router.post(
    "/{dispute_id}/proof",
    response_model=SpDisputeRead,
    summary="Record the SP's proof of the charge in time: the dispute closes, nothing refunded",
)
async def record_proof(
    dispute_id: str, body: SpProofBody, principal: SpProver, rt: Rt
) -> SpDisputeRead:
    codes = (
        frozenset(rt.settings.access_partner_sp_codes.get(principal.sub, ()))
        if principal.has_any("partner")
        else frozenset()
    )
    cmd = RecordSpProof(dispute_id, body.proof_ref, body.note, actor(principal), codes)
    dispute = await run(
        rt.db, disputes.record_sp_proof, cmd, what=f"dispute {dispute_id}", conflicts=CONFLICTS
    )
    return SpDisputeRead.model_validate(dispute)
