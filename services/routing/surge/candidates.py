"""Clusters by what they are about: (category, place bigram, product or precise symptom) ->
newest clusters.

A complaint worded unlike anything in the window still finds the cluster of its place or
product here. A place is keyed by the bigrams of its name, so 天河华景新城 finds 华景新城;
each key keeps only its most recently touched clusters, so a hot key costs a bounded look.
"""

from __future__ import annotations

from collections.abc import Iterator

from services.routing.surge.features import Features
from services.routing.surge.same import Profile


def _place_keys(place: str) -> Iterator[str]:
    if len(place) <= 2:
        yield f"p:{place}"
    else:
        yield from (f"p:{place[i : i + 2]}" for i in range(len(place) - 1))


def keys_of(features: Features | Profile) -> set[str]:
    """The index keys of a complaint's features or of a cluster's profile."""
    if isinstance(features, Profile):
        places, products = features.places, features.products | {f"={s}" for s in features.subjects}
        exact = features.exact
    else:
        places = {k[2:] for k in features if k.startswith("p:")}
        products = {k[2:] for k in features if k.startswith("g:")}
        exact = {k[2:] for k in features if k.startswith("e:")}
    keys = {k for p in places for k in _place_keys(p)}
    return keys | {f"g:{g}" for g in products} | {f"e:{e}" for e in exact}


class KeyIndex:
    def __init__(self, per_key: int) -> None:
        self.per_key = per_key
        self._index: dict[tuple[str, str], dict[str, None]] = {}

    def add(self, category: str, cluster_id: str, features: Features) -> None:
        for key in keys_of(features):
            held = self._index.setdefault((category, key), {})
            held.pop(cluster_id, None)
            held[cluster_id] = None  # newest last
            if len(held) > self.per_key:
                del held[next(iter(held))]

    def remove(self, category: str, cluster_id: str, profile: Profile) -> None:
        for key in keys_of(profile):
            held = self._index.get((category, key))
            if held is not None:
                held.pop(cluster_id, None)
                if not held:
                    del self._index[(category, key)]

    def candidates(self, category: str, features: Features) -> set[str]:
        found: set[str] = set()
        for key in keys_of(features):
            found.update(self._index.get((category, key), ()))
        return found
