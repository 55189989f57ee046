"""Chinese mobile numbers (MSISDN): validation with `phonenumbers`, E.164 storage, masking."""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

_MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}


class InvalidPhoneNumber(ValueError):
    pass


def normalize_msisdn(raw: str) -> str:
    """Parse a Chinese mobile number (national or +86 form) into E.164, or raise."""
    candidate = re.sub(r"[\s\-()]", "", raw or "")
    try:
        number = phonenumbers.parse(candidate, "CN")
    except NumberParseException as exc:
        raise InvalidPhoneNumber(f"not a phone number: {exc}") from exc
    if number.country_code != 86 or not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber("not a valid Chinese mobile number")
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        raise InvalidPhoneNumber("not a mobile number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def national(e164: str) -> str:
    """The 11-digit national form of a +86 number."""
    return e164[3:] if e164.startswith("+86") else e164


def mask_msisdn(number: str | None) -> str | None:
    """Mask the middle four digits: +8613800138000 -> 138****8000."""
    if number is None:
        return None
    digits = national(number)
    if len(digits) < 8:
        return "*" * len(digits)
    return f"{digits[:3]}****{digits[-4:]}"
