"""SP names and codes recognised in a complaint's text (lexicon as data: sp_lexicon.tsv).

Seed 002 handles SP (梦网) complaints through the value-added business and counts them per
SP (梦网投诉率 per 10,000 users per SP), so intake records which SP a complaint names when
the front-end did not say. Longest phrase first; an explicit code in the text wins."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

LEXICON_PATH = Path(__file__).with_name("sp_lexicon.tsv")
_CODE = re.compile(r"(?:企业代码|sp代码|服务代码)\s*:?\s*([0-9]{5,8})")  # on NFKC, lower text
SP_CATEGORIES = frozenset({"value_added", "billing"})
"""Categories whose complaints are about an SP's charge when they name one (a 咪咕 video
that stalls is a network complaint, not an SP's)."""


@dataclass(frozen=True)
class SpMatch:
    sp_code: str
    product: str | None
    evidence: str


def _key(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


@cache
def _lexicon(path: Path = LEXICON_PATH) -> tuple[re.Pattern[str], dict[str, tuple[str, str]]]:
    rows: dict[str, tuple[str, str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        phrase, code, product = line.split("\t")
        rows[_key(phrase)] = (code, product)
    words = sorted(rows, key=len, reverse=True)
    return re.compile("|".join(re.escape(w) for w in words)), rows


def recognise(text: str) -> SpMatch | None:
    """The SP a complaint's text names, if any."""
    normal = _key(text)
    code = _CODE.search(normal)
    if code is not None:
        return SpMatch(sp_code=code.group(1), product=None, evidence=code.group(0))
    pattern, rows = _lexicon()
    found = pattern.search(normal)
    if found is None:
        return None
    sp_code, product = rows[found.group()]
    return SpMatch(sp_code=sp_code, product=product, evidence=found.group())


def for_complaint(given: str | None, text: str, category: str) -> tuple[str | None, SpMatch | None]:
    """The SP code the front-end gave, else the SP the text names (for SP categories)."""
    if given is not None:
        return given, None
    if category not in SP_CATEGORIES:
        return None, None
    found = recognise(text)
    return (None, found) if found is None else (found.sp_code, found)
