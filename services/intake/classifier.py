"""Chinese complaint classifier: jieba tokens scored against a keyword model kept as data.

Pure logic: the only I/O is reading the model (classification_rules.json) and the jieba
user dictionary (userdict.txt) once, lazily.
"""

from __future__ import annotations

import json
import logging
import threading
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

import jieba

RULES_PATH = Path(__file__).with_name("classification_rules.json")
USER_DICT_PATH = Path(__file__).with_name("userdict.txt")
RULE_MAX_CHARS = 100  # complaint.category_rule is VARCHAR(100)

_tokenizer: Any = None
_tokenizer_lock = threading.Lock()


def _jieba() -> Any:
    """The private jieba tokenizer with telecom terms; built once, on first use, thread-safely."""
    global _tokenizer
    if _tokenizer is None:
        with _tokenizer_lock:
            if _tokenizer is None:
                jieba.setLogLevel(logging.WARNING)
                # A private instance so our user dictionary does not leak into other
                # users of the global jieba tokenizer.
                tokenizer = jieba.Tokenizer()
                tokenizer.initialize()
                tokenizer.load_userdict(str(USER_DICT_PATH))
                _tokenizer = tokenizer
    return _tokenizer


@dataclass(frozen=True)
class CooccurrenceRule:
    name: str
    category: str
    weight: float
    groups: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class MajorHints:
    """Free-text mentions that may support a major-complaint criterion (DOMAIN.md)."""

    media: tuple[str, ...] = ()
    lawsuit: tuple[str, ...] = ()
    joint: tuple[str, ...] = ()
    over_level: tuple[str, ...] = ()
    hall_disruption: tuple[str, ...] = ()

    @property
    def reasons(self) -> tuple[str, ...]:
        """Names of the hint kinds that matched, e.g. ('media', 'lawsuit')."""
        return tuple(f.name for f in fields(self) if getattr(self, f.name))


@dataclass(frozen=True)
class Model:
    """The classification model: every number and word comes from the rules file."""

    terms: Mapping[str, Mapping[str, float]]
    negative: Mapping[str, Mapping[str, float]]
    cooccurrence: tuple[CooccurrenceRule, ...]
    default_category: str
    hint_weight: float
    channel_priors: Mapping[str, Mapping[str, float]]
    confidence_smoothing: float
    aliases: Mapping[str, str]
    urgent_terms: tuple[str, ...]
    urgent_exclusions: tuple[str, ...]
    major_hints: Mapping[str, tuple[str, ...]]

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(self.terms)


def _category_terms(spec: dict[str, Any], default_weight: float) -> dict[str, float]:
    overrides = spec.get("term_weights", {})
    unknown = set(overrides) - set(spec["keywords"])
    if unknown:
        raise ValueError(f"term_weights name terms missing from keywords: {sorted(unknown)}")
    scale = float(spec["weight"])
    return {t: float(overrides.get(t, default_weight)) * scale for t in spec["keywords"]}


def _check_categories(where: str, names: Any, categories: Mapping[str, Any]) -> None:
    unknown = set(names) - set(categories)
    if unknown:
        raise ValueError(f"{where} names unknown categories: {sorted(unknown)}")


@lru_cache
def load_model(path: Path = RULES_PATH) -> Model:
    """Read and validate the model; a bad file fails loudly here, not at classification."""
    data = json.loads(path.read_text(encoding="utf-8"))
    cats = data["categories"]
    default_weight = float(data["default_term_weight"])
    rules = tuple(
        CooccurrenceRule(r["name"], r["category"], float(r["weight"]), tuple(map(tuple, r["all"])))
        for r in data["cooccurrence"]
    )
    _check_categories("default_category", [data["default_category"]], cats)
    _check_categories("cooccurrence", [r.category for r in rules], cats)
    for channel, priors in data["channel_priors"].items():
        _check_categories(f"channel_priors.{channel}", priors, cats)
    hint_kinds = {f.name for f in fields(MajorHints)}
    if set(data["major_hints"]) != hint_kinds:
        raise ValueError(f"major_hints must have exactly the kinds {sorted(hint_kinds)}")
    return Model(
        terms={c: _category_terms(spec, default_weight) for c, spec in cats.items()},
        negative={c: dict(spec.get("negative", {})) for c, spec in cats.items()},
        cooccurrence=rules,
        default_category=data["default_category"],
        hint_weight=float(data["hint_weight"]),
        channel_priors=data["channel_priors"],
        confidence_smoothing=float(data["confidence_smoothing"]),
        aliases=data["aliases"],
        urgent_terms=tuple(data["urgent_keywords"]),
        urgent_exclusions=tuple(data["urgent_exclusions"]),
        major_hints={k: tuple(v) for k, v in data["major_hints"].items()},
    )


def normalize(text: str, model: Model | None = None) -> str:
    """NFKC (full-width to half-width), lower case, and known typos mapped to their terms."""
    text = unicodedata.normalize("NFKC", text).lower()
    for wrong, right in (model or load_model()).aliases.items():
        text = text.replace(wrong, right)
    return text


def tokenize(text: str, model: Model | None = None) -> list[str]:
    """Search-mode jieba tokens of the normalised text (compounds also yield their sub-words)."""
    return _tokens(normalize(text, model))


def warm_up() -> None:
    """Load the rule model and build the tokenizer (about a second) at startup, so that the
    first complaint after a deploy does not pay for it."""
    tokenize("家里信号很差", load_model())


def _tokens(normalized: str) -> list[str]:
    return [t for t in _jieba().lcut_for_search(normalized) if any(ch.isalnum() for ch in t)]


@lru_cache(maxsize=4096)
def _is_phrase(term: str) -> bool:
    """A term jieba splits into several words is matched as a phrase, not as a token."""
    return len(_jieba().lcut(term, HMM=False)) > 1


@dataclass(frozen=True)
class _Text:
    normalized: str
    tokens: frozenset[str]

    def has(self, term: str) -> bool:
        if term in self.tokens:
            return True
        return _is_phrase(term) and term in self.normalized


def _prepare(text: str, model: Model) -> _Text:
    normalized = normalize(text, model)
    return _Text(normalized, frozenset(_tokens(normalized)))


def _covered(term: str, matched: set[str], normalized: str) -> bool:
    """Every occurrence of term lies inside longer matched terms ('话费' inside '话费支付')."""
    inside = sum(
        normalized.count(longer) * longer.count(term)
        for longer in matched
        if term in longer and term != longer
    )
    return inside > 0 and inside >= normalized.count(term)


def _evidence(text: _Text, model: Model) -> dict[str, list[tuple[str, float]]]:
    """Per category, the matched terms (longest reading wins) and co-occurrence rules."""
    found = {c: {t: w for t, w in terms.items() if text.has(t)} for c, terms in model.terms.items()}
    matched = {t for terms in found.values() for t in terms}
    hits = {
        c: [(t, w) for t, w in terms.items() if not _covered(t, matched, text.normalized)]
        for c, terms in found.items()
    }
    for rule in model.cooccurrence:
        if all(any(text.has(t) for t in group) for group in rule.groups):
            hits[rule.category].append((f"&{rule.name}", rule.weight))
    return hits


def _text_scores(
    text: _Text, hits: Mapping[str, list[tuple[str, float]]], model: Model
) -> dict[str, float]:
    scores: dict[str, float] = {}
    for category, found in hits.items():
        penalty = sum(w for t, w in model.negative[category].items() if text.has(t))
        scores[category] = max(0.0, sum(w for _, w in found) - penalty)
    return scores


@dataclass(frozen=True)
class Classification:
    category: str
    confidence: float
    rule: str


def _rule(category: str, found: list[tuple[str, float]], hinted: bool) -> str:
    suffix = "+hint" if hinted else ""
    head = f"keywords:{category}:"
    names: list[str] = []
    for term, _ in sorted(found, key=lambda tw: -tw[1]):
        if len(head) + len(",".join([*names, term])) + len(suffix) > RULE_MAX_CHARS:
            break
        names.append(term)
    return head + ",".join(names) + suffix


def classify(
    text: str, *, hint: str | None = None, channel: str | None = None, model: Model | None = None
) -> Classification:
    """Category from the text's evidence, a front-end hint (a prior) and the channel (smaller)."""
    model = model or load_model()
    hint = hint if hint in model.terms else None
    prepared = _prepare(text, model)
    hits = _evidence(prepared, model)
    scores = _text_scores(prepared, hits, model)
    if not any(scores.values()):
        if hint:
            return Classification(hint, _confidence(model.hint_weight, 0.0, model), f"hint:{hint}")
        return Classification(model.default_category, 0.0, "default")
    totals = dict(scores)
    if hint:
        totals[hint] += model.hint_weight
    for category, prior in model.channel_priors.get(channel or "", {}).items():
        if totals[category] > 0:  # a channel re-ranks candidates; it never invents one
            totals[category] += prior
    ranked = sorted(totals, key=lambda c: (totals[c], c == hint, scores[c]), reverse=True)
    best, runner_up = ranked[0], ranked[1]
    confidence = _confidence(totals[best], totals[runner_up], model)
    if scores[best] == 0:
        return Classification(best, confidence, f"hint:{best}")
    return Classification(best, confidence, _rule(best, hits[best], hinted=best == hint))


def _confidence(best: float, runner_up: float, model: Model) -> float:
    """The winning margin, shrunk when the evidence itself is thin; always within [0, 1]."""
    return round((best - runner_up) / (best + model.confidence_smoothing), 3)


@dataclass(frozen=True)
class UrgentSignal:
    """Conflict or safety language (severity 'urgent'), with the terms that matched."""

    terms: tuple[str, ...] = ()

    @property
    def urgent(self) -> bool:
        return bool(self.terms)


def _scrub(text: str, exclusions: tuple[str, ...]) -> str:
    for phrase in exclusions:
        text = text.replace(phrase, " ")
    return text


def detect_urgent(text: str, *, model: Model | None = None) -> UrgentSignal:
    """Phrase match favours recall: a missed safety case costs more than a false alarm."""
    model = model or load_model()
    scrubbed = _scrub(normalize(text, model), model.urgent_exclusions)
    return UrgentSignal(tuple(t for t in model.urgent_terms if t in scrubbed))


def detect_major_hints(text: str, *, model: Model | None = None) -> MajorHints:
    """Mentions of media, lawsuits, joint or over-level complaints; hints, not verdicts."""
    model = model or load_model()
    normalized = normalize(text, model)
    found = {
        kind: tuple(t for t in terms if t in normalized)
        for kind, terms in model.major_hints.items()
    }
    return MajorHints(**found)
