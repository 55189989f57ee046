"""What a complaint is about, beyond its words: place, symptom, product (seed 004 §3.5 同内容).

Each is read from the normalised text with data the operator maintains (data/places.tsv,
data/symptoms.tsv, data/symptom_patterns.tsv, data/products.tsv) plus patterns: a place is a
name ending in a place word (路/街/小区/新城/地铁站/营业厅/...) or followed by a zone (三区/5栋), or
a name right after a known district (增城新塘), normalised so that
翠苑小区三区 and 翠苑三区 are both 翠苑. Features are tuples of prefixed keys, cheap to hold:
"p:" fine place, "d:" district, "s:" symptom, "f:" symptom family, "g:" product/SP/plan, "e:" a
symptom precise enough on its own (the `alone` column of symptoms.tsv).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from services.routing.surge.text import DATA, normalise

Features = tuple[str, ...]

_ZONE = re.compile(r"[0-9一二三四五六七八九十]+(?:区|期|栋|幢|号楼|单元|座)")
_SUFFIX = (
    "大学城|工业区|科技园|产业园|小区|社区|花园|新城|新村|公寓|大厦|广场|商场|地铁站|火车站|高铁站|汽车站|"
    "营业厅|服务厅|大道|中心|医院|大学|中学|小学|公园|路|街|巷|村|镇|乡|苑|园|城|湾|府|庭|站|厅|区|县|#"
)
_PLACE = re.compile(rf"([\u4e00-\u9fff0-9a-z]{{2,8}}?)({_SUFFIX})")
_GENERIC_TAIL = re.compile(r"(?:小区|社区|花园|新村|营业厅|服务厅|镇|#)$")
_GENERIC = frozenset(
    {"营业厅", "服务厅", "地铁站", "小区", "社区", "公园", "中心", "医院", "服务区"}
)
_HALL = re.compile(r"([\u4e00-\u9fff0-9a-z]{2,6})(?:营业厅|服务厅|营业部)")
_SHORT = re.compile(r"[\u4e00-\u9fff][村镇]")
# 沙河顶那边, 住在沙河顶: a name before a locative word or after "I live in", without a place word
_LOCATIVE = re.compile(
    r"([\u4e00-\u9fff]{2,5})(?:那边|这边|一带|附近|周边|这一片|那一片)"
    r"|(?:住在|我在|家在|家住|人在)([\u4e00-\u9fff]{2,5})(?= |$)"
)
_SP_CODE = re.compile(r"10[0-9]{5,9}")
_PLAN = re.compile(r"([0-9]{2,3})元套餐")
# 东圃的营业厅, 东圃那家移动营业厅 are 东圃营业厅: a possessive, pointer or brand in between
_OF_PLACE = re.compile(
    r"((?:(?!的|那|这)[\u4e00-\u9fff]){2,4})(?:那家|这家|那个|这个)?的?(?:移动)?"
    r"(营业厅|服务厅|小区|地铁站)"
)


@dataclass(frozen=True)
class Lexicon:
    places: dict[str, tuple[str, str]]  # name -> (canonical, level)
    symptoms: dict[str, tuple[str, str]]  # phrase -> (symptom, family)
    alone: frozenset[str]  # symptoms that are the same problem on their own (4th column)
    products: dict[str, str]  # phrase -> canonical product
    place_re: re.Pattern[str] | None
    symptom_re: re.Pattern[str]
    product_re: re.Pattern[str]
    boundary_re: re.Pattern[str]
    patterns: tuple[tuple[re.Pattern[str], str, str], ...] = ()  # regex, symptom, family


def _rows(name: str) -> list[list[str]]:
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return [line.split("\t") for line in lines if line.strip() and not line.startswith("#")]


def _alternation(words: list[str]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True)))


def _key(phrase: str) -> str:
    return normalise(phrase).replace(" ", "")


def build_lexicon(
    places: list[list[str]],
    symptoms: list[list[str]],
    products: list[list[str]],
    patterns: list[list[str]] | None = None,
) -> Lexicon:
    """A lexicon from rows of the data files (or ops corrections added to them)."""
    patterns = _rows("symptom_patterns.tsv") if patterns is None else patterns
    place_map = {_key(r[0]): (r[1], r[2]) for r in places}
    symptom_map = {_key(r[0]): (r[1], r[2]) for r in symptoms}
    alone = frozenset(r[1] for r in [*symptoms, *patterns] if len(r) > 3 and r[3] == "alone")
    product_map = {_key(r[0]): r[1] for r in products}
    boundaries = [*(_key(w) for w in _boundary_words()), *symptom_map]
    return Lexicon(
        place_map,
        symptom_map,
        alone,
        product_map,
        _alternation(list(place_map)) if place_map else None,
        _alternation(list(symptom_map)),
        _alternation(list(product_map)),
        _alternation(boundaries),
        tuple((re.compile(r[0]), r[1], r[2]) for r in patterns),
    )


@cache
def _boundary_words() -> list[str]:
    return [r[0] for r in _rows("boundaries.txt")]


@cache
def default_lexicon() -> Lexicon:
    """The lexicon of the shipped data files."""
    return build_lexicon(_rows("places.tsv"), _rows("symptoms.tsv"), _rows("products.tsv"))


def _place_key(piece: str) -> str | None:
    core = _GENERIC_TAIL.sub("", piece)
    if len(core) < 2:
        core = piece.rstrip("#")
    if len(core) < 2 or core in _GENERIC:
        return None
    return core


def extract(text: str, lexicon: Lexicon | None = None) -> Features:
    """The place, symptom and product keys of a complaint's text (sorted, deduplicated)."""
    lex = lexicon or default_lexicon()
    norm = normalise(text)
    keys: set[str] = set()
    found: list[tuple[str, str]] = []
    rest = norm
    for pattern, symptom, family in lex.patterns:
        if pattern.search(rest):
            found.append((symptom, family))
            rest = pattern.sub(" ", rest)  # a span is one symptom: phrases do not read it again
    found.extend(lex.symptoms[m.group()] for m in lex.symptom_re.finditer(rest))
    for symptom, family in found:
        keys.update((f"s:{symptom}", f"f:{family}"))
        if symptom in lex.alone:
            keys.add(f"e:{symptom}")
    for m in lex.product_re.finditer(norm):
        keys.add(f"g:{lex.products[m.group()]}")
    keys.update(f"g:sp{code}" for code in _SP_CODE.findall(norm))
    keys.update(f"g:plan{name}" for name in _PLAN.findall(norm))
    if lex.place_re is not None:
        for m in lex.place_re.finditer(norm):
            canonical, level = lex.places[m.group()]
            if level == "none":
                continue  # a channel named like a place (网上营业厅)
            keys.add(f"{'d' if level == 'district' else 'p'}:{canonical}")
    keys.update(_patterned_places(norm, lex))
    return tuple(sorted(keys))


def _patterned_places(norm: str, lex: Lexicon) -> set[str]:
    """Places the gazetteer does not name, read from place words (路/村/小区/营业厅/...)."""
    keys: set[str] = set()
    for m in _LOCATIVE.finditer(norm):
        name = lex.boundary_re.sub(" ", m.group(1) or m.group(2)).split()
        if name and len(name[-1]) >= 2 and not _PLACE.search(name[-1]) and name[-1] not in _GENERIC:
            keys.add(f"p:{_drop_head(name[-1], lex)}")
    zoned = _ZONE.sub("#", _OF_PLACE.sub(r"\1\2", norm))
    for chunk in lex.boundary_re.sub(" ", zoned).split():
        if (hall := _HALL.match(chunk)) is not None:  # the whole name before 营业厅 is the hall
            keys.add(f"p:{_drop_head(hall.group(1), lex)}")
        elif _SHORT.fullmatch(chunk[:2]) and (len(chunk) == 2 or not _PLACE.match(chunk)):
            keys.add(f"p:{chunk[:2]}")  # 黄村: one character and the place word
        elif (named := _after_district(chunk, lex)) is not None:
            keys.add(f"p:{named}")  # 增城新塘: a name right after a district the gazetteer knows
        for m in _PLACE.finditer(chunk):
            piece, suffix = m.group(), m.group(2)
            if piece in lex.places or (hall is not None and m.start() < hall.end()):
                continue  # found above
            piece = _drop_head(piece, lex)
            if piece in _GENERIC:
                continue
            if suffix in ("区", "县"):
                keys.add(f"d:{piece}")
            elif (key := _place_key(piece)) is not None:
                keys.add(f"p:{key}")
    return keys


def _after_district(chunk: str, lex: Lexicon) -> str | None:
    head = lex.place_re.match(chunk) if lex.place_re is not None else None
    if head is None or lex.places[head.group()][1] != "district":
        return None
    rest = chunk[head.end() :]
    return rest if 2 <= len(rest) <= 4 and not _PLACE.search(rest) else None


def _drop_head(piece: str, lex: Lexicon) -> str:
    """天河华景新城 is 华景新城 in 天河: a district the gazetteer knows, in front of a name."""
    head = lex.place_re.match(piece) if lex.place_re is not None else None
    if head is not None and len(piece) - head.end() >= 2:
        return piece[head.end() :]
    return piece
