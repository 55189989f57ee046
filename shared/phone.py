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


_FULL_WIDTH = str.maketrans("０１２３４５６７８９＋－　", "0123456789+- ")
_SEP = r"[\s\-.\u00a0]?"
_MOBILE_IN_TEXT = re.compile(
    r"(?<![0-9０-９])(?:(?:\+|00)?86[\s\-]*)?"  # +86 / 0086 / 86, spaced or hyphenated
    rf"(1[3-9][0-9]){_SEP}([0-9]{{4}}){_SEP}([0-9]{{4}})(?![0-9０-９])"
)
_ID_NUMBER = re.compile(r"(?<![0-9])([1-9][0-9]{5})[0-9]{8}([0-9]{3}[0-9Xx])(?![0-9])")
_NAME_AFTER_LABEL = re.compile(
    r"(姓名|客户姓名|客户|用户姓名|用户|联系人|机主)([：:\s]*)([\u4e00-\u9fff·]{1,3})"
)
_NOT_NAMES = ("反映", "投诉", "表示", "称", "来电", "要求", "所在", "的", "经理", "服务")


def _name(m: re.Match[str]) -> str:
    label, sep, name = m.group(1), m.group(2), m.group(3)
    if name.startswith(_NOT_NAMES):
        return m.group(0)  # "客户反映..." is a verb, not a name
    return f"{label}{sep}{name[0]}{'*' * (len(name) - 1 or 1)}"


def mask_text(text: str) -> str:
    """The one masker for free text leaving the system of record: mobile numbers in any common
    form (138-0013-8000, 138 0013 8000, +86 138..., full-width digits) become 138****8000,
    18-digit ID numbers keep only their first 6 and last 4, a name after 姓名/客户/联系人
    keeps its surname."""
    normalised = text.translate(_FULL_WIDTH)
    masked = _MOBILE_IN_TEXT.sub(lambda m: f"{m.group(1)}****{m.group(3)}", normalised)
    masked = _ID_NUMBER.sub(lambda m: f"{m.group(1)}********{m.group(2)}", masked)
    return _NAME_AFTER_LABEL.sub(_name, masked)
