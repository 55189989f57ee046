"""SLA's calendar command refuses a bad arrangement before it touches anything."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from services.sla.commands import LoadYear, OfficialDay, load_year
from shared.errors import Invalid


class UntouchedUnitOfWork:
    """A unit of work that fails the test if the command reads or writes anything."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the command used uow.{name} before refusing")


def _year(year: int, holidays: list[date], workdays: list[date] = []) -> LoadYear:  # noqa: B006
    return LoadYear(
        year=year,
        holidays=[OfficialDay(d, "春节") for d in holidays],
        workdays=[OfficialDay(d, "春节调休") for d in workdays],
        actor="ops-1",
        detail={},
    )


@pytest.mark.parametrize(
    ("cmd", "field"),
    [
        (_year(2003, [date(2003, 1, 1)]), "year"),
        (_year(2041, [date(2041, 1, 1)]), "year"),
        (_year(2027, [date(2029, 1, 1)]), "holidays.0.date"),
        (_year(2027, [date(2027, 2, 8), date(2027, 2, 8)]), "holidays.1.date"),
        # 2027-02-10 is a Wednesday: a make-up working day is a weekend day worked
        (_year(2027, [date(2027, 2, 8)], [date(2027, 2, 10)]), "workdays.0.date"),
        (_year(2027, [date(2027, 2, 6)], [date(2027, 2, 6)]), "workdays.0.date"),
    ],
)
async def test_a_bad_arrangement_is_refused_naming_the_field(cmd: LoadYear, field: str) -> None:
    with pytest.raises(Invalid) as refused:
        await load_year(cmd, UntouchedUnitOfWork(), sla=None)  # type: ignore[arg-type]
    assert refused.value.field == field
