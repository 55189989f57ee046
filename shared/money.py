"""Money as integer fen; in the API a decimal string with exactly two places ("150.00")."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

AMOUNT_PATTERN = r"^\d{1,9}\.\d{2}$"
_AMOUNT_RE = re.compile(AMOUNT_PATTERN)
MAX_FEN = 99_999_999_999  # below 1e9 CNY: anything larger is absurd for a complaint


def parse_amount(text: str) -> int:
    """'150.00' -> 15000 fen. Exactly two decimals, non-negative, bounded."""
    if not isinstance(text, str) or not _AMOUNT_RE.match(text):
        raise ValueError("amount must be a decimal string with two places, e.g. '150.00'")
    fen = int(Decimal(text) * 100)
    if fen > MAX_FEN:
        raise ValueError("amount is too large")
    return fen


def format_fen(fen: int) -> str:
    """15000 -> '150.00'."""
    sign = "-" if fen < 0 else ""
    whole, part = divmod(abs(fen), 100)
    return f"{sign}{whole}.{part:02d}"


def _to_fen(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        return parse_amount(value)
    raise ValueError("amount must be a decimal string with two places, e.g. '150.00'")


Fen = Annotated[
    int,
    BeforeValidator(_to_fen),
    PlainSerializer(format_fen, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": AMOUNT_PATTERN,
            "examples": ["150.00"],
            "description": "CNY as a decimal string with exactly two places",
        }
    ),
]
"""An amount held as fen in Python and written as a two-place decimal string in JSON."""
