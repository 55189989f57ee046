"""The same-content decision: would a shift leader call these one problem (seed 004 §3.5)?

Evidence, strongest first: a known place and a known symptom both agree (located categories),
or a product/SP and a symptom both agree; one of them agrees and the text is somewhat alike;
nothing is known and the text alone is alike. Any kind that both sides know and that shares
nothing (another place, another symptom family, another product) keeps them apart, however
alike the words; except a product where the place is the problem (a hall, a cell): 办宽带 and 办副卡
at one rude hall are one complaint about that hall. The reasons are kept so a cluster can show
why its members were joined.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass

from services.routing.surge.features import Features


@dataclass(frozen=True, slots=True)
class Decision:
    joined: bool
    strength: int  # 3: two kinds agree, 2: one kind agrees, 1: text alone, 0: apart
    reasons: tuple[str, ...]


@dataclass(slots=True)
class Profile:
    """The union of the features of a cluster's members."""

    places: set[str]
    districts: set[str]
    families: set[str]
    products: set[str]
    subjects: set[str]  # what intake recorded the complaint is about ("g:=10658123")
    exact: set[str]  # symptoms precise enough on their own ("e:not_credited")

    @classmethod
    def empty(cls) -> Profile:
        return cls(set(), set(), set(), set(), set(), set())

    @classmethod
    def of(cls, features: Features) -> Profile:
        profile = cls.empty()
        profile.add(features)
        return profile

    def add(self, features: Features) -> None:
        for key in features:
            kind, value = key[0], key[2:]
            if kind == "p":
                self.places.add(value)
            elif kind == "d":
                self.districts.add(value)
            elif kind == "f":
                self.families.add(value)
            elif kind == "e":
                self.exact.add(value)
            elif kind == "g" and value.startswith("="):
                self.subjects.add(value[1:])
            elif kind == "g":
                self.products.add(value)


def _place_agrees(
    mine: set[str], theirs: set[str], distinct: Set[tuple[str, str]] = frozenset()
) -> str | None:
    """A shared place: equal, or one name inside the other (天河华景新城 / 华景新城) unless ops
    split those two apart."""
    for a in sorted(mine):
        for b in theirs:
            if a == b or ((a in b or b in a) and (min(a, b), max(a, b)) not in distinct):
                return a if len(a) <= len(b) else b
    return None


def decide(
    features: Features | Profile,
    cluster: Profile,
    similarity: float,
    *,
    located: bool,
    text_alone: float,
    text_confirmed: float,
    text_strong: float = 0.0,
    distinct: Set[tuple[str, str]] = frozenset(),
) -> Decision:
    """Join or not, how strongly, and why."""
    mine = features if isinstance(features, Profile) else Profile.of(features)
    agree: list[str] = []
    if located:
        if mine.places and cluster.places:
            place = _place_agrees(mine.places, cluster.places, distinct)
            if place is None:
                return Decision(False, 0, ("another place",))
            agree.append(f"place:{place}")
        elif mine.districts and cluster.districts and not (mine.places or cluster.places):
            shared = mine.districts & cluster.districts
            if not shared:
                return Decision(False, 0, ("another district",))
            agree.append(f"district:{min(shared)}")
    if mine.subjects and cluster.subjects:
        shared = mine.subjects & cluster.subjects
        if not shared:
            return Decision(False, 0, ("another subject",))
        agree.append(f"product:{min(shared)}")
    elif mine.products and cluster.products:
        shared = mine.products & cluster.products
        if shared:
            agree.append(f"product:{min(shared)}")
        elif not located:  # where the place is the problem, the product named is incidental
            return Decision(False, 0, ("another product",))
    symptom, precise = None, False
    if mine.families and cluster.families:
        shared = mine.families & cluster.families
        if not shared:
            return Decision(False, 0, ("another symptom",))
        symptom = f"symptom:{min(shared)}"
    if symptom and not located:
        # a charge is what it is about: the same kind of charge is evidence on its own
        agree.append(symptom)
        symptom = None
        if exact := mine.exact & cluster.exact:
            precise = True  # a symptom precise enough to need nothing else
            if f"symptom:{min(exact)}" not in agree:
                agree.append(f"symptom:{min(exact)}")
    text = f"similarity:{similarity:.2f}"
    specific = [a for a in agree if not a.startswith("district:")]
    two_kinds = symptom is not None or len(agree) > 1 or precise
    if specific and two_kinds and similarity >= text_strong:
        return Decision(True, 3, (*agree, *([symptom] if symptom else []), text))
    if agree and similarity >= text_confirmed:
        return Decision(True, 2, (*agree, *([symptom] if symptom else []), text))
    if similarity >= text_alone:
        return Decision(True, 1, (*([symptom] if symptom else []), text))
    return Decision(False, 0, ("too little in common",))
