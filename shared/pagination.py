"""Opaque list cursors: the position of the last item returned, base64url-encoded.

Every list endpoint orders by a unique column and hands back that column's value of its
last item as `next_cursor`; a malformed cursor is a 422 naming the `cursor` field."""

from __future__ import annotations

import base64
import binascii

from shared.errors import Invalid

_MAX_POSITION = 2**63


def encode_cursor(position: int | str) -> str:
    """The cursor for a position (an integer id or a string key)."""
    return base64.urlsafe_b64encode(str(position).encode()).decode()


def decode_text_cursor(cursor: str) -> str:
    """The string position a cursor carries, or `Invalid("cursor")`."""
    try:
        return base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise Invalid("cursor", "malformed") from exc


def decode_int_cursor(cursor: str) -> int:
    """The integer position a cursor carries (a non-negative 64-bit id), or `Invalid`."""
    try:
        position = int(decode_text_cursor(cursor))
    except ValueError as exc:
        raise Invalid("cursor", "malformed") from exc
    if not 0 <= position < _MAX_POSITION:
        raise Invalid("cursor", "malformed")
    return position
