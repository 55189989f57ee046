"""What ops corrections teach (seed 004 §3.5 同内容, decided by a shift leader): a merge of two
places or products the lexicon kept apart makes them one (an alias row); a split of two places
one name of which holds the other makes them two (a distinct row). Rows are data: the worker
keeps them in the database and teaches them to every detector it builds."""

from __future__ import annotations

from collections.abc import Iterable

from services.routing.surge.clusters import _Cluster
from services.routing.surge.model import Correction


class Corrections:
    """Mixed into the detector: the aliases and distinct places it applies to new complaints."""

    aliases: dict[str, str]  # "p:翠苑小区" -> "p:翠苑"
    distinct: set[tuple[str, str]]  # ("新世界", "金沙洲新世界")
    _taught: list[Correction]

    def _learn(self, target: _Cluster, source: _Cluster) -> None:
        """An ops merge of two places (or products) the lexicon kept apart: one from now on."""
        for kind, mine, theirs in (
            ("p", target.profile.places, source.profile.places),
            ("g", target.profile.products, source.profile.products),
        ):
            if mine and theirs and not (mine & theirs):
                canonical = f"{kind}:{min(mine)}"
                for name in sorted(theirs):
                    if f"{kind}:{name}" not in self.aliases:
                        row = Correction("alias", f"{kind}:{name}", canonical, target.cluster_id)
                        self._teach(row)

    def _learn_apart(self, source: _Cluster, target: _Cluster) -> None:
        """An ops split of places one name of which holds the other: two places from now on."""
        stay, left = source.profile.places, target.profile.places
        for a in sorted(stay - left):
            for b in sorted(left - stay):
                if (a in b or b in a) and (min(a, b), max(a, b)) not in self.distinct:
                    self._teach(Correction("distinct", min(a, b), max(a, b), target.cluster_id))

    def _teach(self, row: Correction) -> None:
        self.teach([row])
        self._taught.append(row)

    def teach(self, rows: Iterable[Correction]) -> None:
        """Load corrections (from the database, or just learnt): they apply to new complaints."""
        for row in rows:
            if row.kind == "alias":
                self.aliases.setdefault(row.name, row.value)
            elif row.kind == "distinct":
                self.distinct.add((min(row.name, row.value), max(row.name, row.value)))

    def new_corrections(self) -> list[Correction]:
        """What ops merges and splits taught since the last call, to be kept as data."""
        taught, self._taught = self._taught, []
        return taught

    def corrections(self) -> list[tuple[str, str]]:
        """What ops merges taught, as (name, canonical) rows for places.tsv / products.tsv."""
        return sorted((k, v) for k, v in self.aliases.items())
