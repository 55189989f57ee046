"""The staff directory over HTTP: who holds each alert role for a desk, hall or department.

`PUT /v1/staff-directory/{role}/{unit}` replaces that role's holders for the unit (so a retry
is harmless); `GET /v1/staff-directory` lists them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator
from sqlalchemy import delete, select

from services.routing.models import StaffRole
from services.routing.settings import RoutingSettings
from services.routing.staff_alerts import ROLES, parse_shift_starts
from shared.auth import Principal, require_roles
from shared.errors import PROBLEM_RESPONSES, field_error
from shared.phone import InvalidPhoneNumber, normalize_msisdn
from shared.service import Runtime, runtime

router = APIRouter(prefix="/v1", tags=["staff directory"], responses=PROBLEM_RESPONSES)
Staff = Annotated[
    Principal,
    Depends(
        require_roles("agent", "frontline", "room_manager", "centre_manager", "leadership", "ops")
    ),
]
Admins = Annotated[Principal, Depends(require_roles("ops", "centre_manager", "leadership"))]
Rt = Annotated[Runtime, Depends(runtime)]
ROLE_PATTERN = "^(" + "|".join(ROLES) + ")$"
UNIT = Path(min_length=1, max_length=64, pattern=r"^[\w*.:-]+$", description="Desk, hall, dept, *")


class Holder(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    email: EmailStr | None = None
    mobile: str | None = Field(None, max_length=20, description="Mainland mobile, any format")
    shift: str = Field(
        "", max_length=5, description="Shift leaders: the shift's local start ('08:00'); '' = all"
    )

    @field_validator("mobile")
    @classmethod
    def _mobile(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return normalize_msisdn(value)
        except InvalidPhoneNumber as exc:
            raise ValueError("must be a valid mobile number") from exc


class HoldersWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    holders: list[Holder] = Field(max_length=50, description="Replaces the current holders")


class StaffRoleRead(BaseModel):
    role: str
    unit: str
    shift: str
    name: str
    email: str | None
    mobile: str | None


def _check(role: str, unit: str, holders: list[Holder], settings: RoutingSettings) -> None:
    shifts = {s.strftime("%H:%M") for s in parse_shift_starts(settings.shift_starts)}
    for i, h in enumerate(holders):
        if not (h.email or h.mobile):
            raise field_error(f"holders.{i}.email", "give an e-mail or a mobile (or both)")
        if h.shift and role != "shift_leader":
            raise field_error(f"holders.{i}.shift", "only shift leaders hold a shift")
        if h.shift and h.shift not in shifts:
            raise field_error(f"holders.{i}.shift", f"must be one of {', '.join(sorted(shifts))}")
    keys = [(h.name, h.shift) for h in holders]
    if len(set(keys)) != len(keys):
        raise field_error("holders", "a person is listed twice for the same shift")


@router.put(
    "/staff-directory/{role}/{unit}",
    response_model=list[StaffRoleRead],
    summary="Set who holds a role for a desk, hall or department (replaces the holders)",
)
async def put_holders(
    body: HoldersWrite,
    _: Admins,
    rt: Rt,
    role: Annotated[str, Path(pattern=ROLE_PATTERN)],
    unit: Annotated[str, UNIT],
) -> list[StaffRoleRead]:
    settings: RoutingSettings = rt.settings  # type: ignore[assignment]
    _check(role, unit, body.holders, settings)
    async with rt.db.uow() as uow:
        await uow.session.execute(
            delete(StaffRole).where(StaffRole.role == role, StaffRole.unit == unit)
        )
        rows = [
            StaffRole(
                role=role, unit=unit, shift=h.shift, name=h.name, email=h.email, mobile=h.mobile
            )
            for h in body.holders
        ]
        uow.session.add_all(rows)
        await uow.commit()
    return [StaffRoleRead.model_validate(r, from_attributes=True) for r in rows]


@router.get("/staff-directory", response_model=list[StaffRoleRead], summary="The staff directory")
async def list_holders(
    _: Staff,
    rt: Rt,
    role: Annotated[str | None, Query(pattern=ROLE_PATTERN)] = None,
    unit: Annotated[str | None, Query(max_length=64)] = None,
) -> list[StaffRoleRead]:
    query = select(StaffRole)
    if role:
        query = query.where(StaffRole.role == role)
    if unit:
        query = query.where(StaffRole.unit == unit)
    async with rt.db.sessions() as s:
        rows = (await s.scalars(query.order_by(StaffRole.role, StaffRole.unit, StaffRole.id))).all()
    return [StaffRoleRead.model_validate(r, from_attributes=True) for r in rows]
