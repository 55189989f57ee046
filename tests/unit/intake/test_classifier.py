"""Complaint classifier: measured quality on the labelled set, and focused behaviour."""

from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.intake import domain
from services.intake.classifier import (
    RULE_MAX_CHARS,
    Classification,
    classify,
    detect_major_hints,
    detect_urgent,
    load_model,
    tokenize,
)

DATA = Path(__file__).parents[2] / "data" / "complaints_labelled.jsonl"

# The bar, fixed before the holdout split was written. Keyword rules on short Chinese
# complaints cannot be perfect: about one complaint in ten genuinely sits between two
# departments (SP vs ordinary billing, a blocked plan change vs the plan itself), and
# routing allows a transfer. So a wrong category costs one transfer; a category below
# 0.6 would mean a department routinely receives another's tickets, which is not
# acceptable. Unseen text (holdout) may be 5 points worse than the whole set.
OVERALL_MIN = 0.85
HOLDOUT_MIN = 0.80
CATEGORY_MIN = 0.60
# Missing a safety case costs far more than a false alarm: recall first.
URGENT_RECALL_MIN = 0.90
URGENT_PRECISION_MIN = 0.75


@dataclass(frozen=True)
class Case:
    text: str
    category: str
    urgent: bool
    hint: str | None
    channel: str | None
    split: str


@dataclass(frozen=True)
class Outcome:
    case: Case
    got: Classification
    urgent: bool


def _load_cases() -> list[Case]:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line]
    return [
        Case(r["text"], r["category"], r["urgent"], r.get("hint"), r.get("channel"), r["split"])
        for r in rows
    ]


@pytest.fixture(scope="module")
def outcomes() -> list[Outcome]:
    return [
        Outcome(c, classify(c.text, hint=c.hint, channel=c.channel), detect_urgent(c.text).urgent)
        for c in _load_cases()
    ]


def _accuracy(rows: list[Outcome]) -> float:
    return sum(o.got.category == o.case.category for o in rows) / len(rows)


def _report(rows: list[Outcome]) -> str:
    lines = [f"classifier on {len(rows)} labelled complaints"]
    for split in ("dev", "holdout"):
        part = [o for o in rows if o.case.split == split]
        lines.append(f"  {split:<8} {_accuracy(part):.3f}  (n={len(part)})")
    lines.append(f"  {'all':<8} {_accuracy(rows):.3f}")
    for category in load_model().categories:
        part = [o for o in rows if o.case.category == category]
        held = [o for o in part if o.case.split == "holdout"]
        lines.append(
            f"    {category:<12} {_accuracy(part):.2f} (n={len(part)})"
            f"  holdout {_accuracy(held):.2f} (n={len(held)})"
        )
    confusion = Counter(
        (o.case.category, o.got.category) for o in rows if o.got.category != o.case.category
    )
    lines.append("  confusion (expected -> got: count):")
    lines += [f"    {want} -> {got}: {n}" for (want, got), n in confusion.most_common()]
    return "\n".join(lines)


def test_labelled_set_is_big_varied_and_split() -> None:
    cases = _load_cases()
    per_category = Counter(c.category for c in cases)
    holdout_share = sum(c.split == "holdout" for c in cases) / len(cases)
    assert len(cases) >= 220
    assert set(per_category) == set(domain.CATEGORIES)
    assert min(per_category.values()) >= 15
    assert 0.25 <= holdout_share <= 0.35


def test_classifier_meets_the_accuracy_bar(
    outcomes: list[Outcome], capsys: pytest.CaptureFixture[str]
) -> None:
    report = _report(outcomes)
    with capsys.disabled():
        print("\n" + report)
    holdout = [o for o in outcomes if o.case.split == "holdout"]
    assert _accuracy(outcomes) >= OVERALL_MIN, report
    assert _accuracy(holdout) >= HOLDOUT_MIN, report
    for category in load_model().categories:
        part = [o for o in outcomes if o.case.category == category]
        assert _accuracy(part) >= CATEGORY_MIN, f"{category}\n{report}"


def test_urgent_detection_meets_the_bar(
    outcomes: list[Outcome], capsys: pytest.CaptureFixture[str]
) -> None:
    true_pos = sum(o.urgent and o.case.urgent for o in outcomes)
    recall = true_pos / sum(o.case.urgent for o in outcomes)
    precision = true_pos / sum(o.urgent for o in outcomes)
    with capsys.disabled():
        print(f"urgent: recall {recall:.2f}, precision {precision:.2f}")
    assert recall >= URGENT_RECALL_MIN
    assert precision >= URGENT_PRECISION_MIN


def test_every_answer_is_a_known_category_with_bounded_confidence_and_short_rule(
    outcomes: list[Outcome],
) -> None:
    for o in outcomes:
        assert o.got.category in domain.CATEGORIES
        assert 0.0 <= o.got.confidence <= 1.0
        assert 0 < len(o.got.rule) <= RULE_MAX_CHARS


def test_rule_names_the_category_and_the_terms_that_fired() -> None:
    got = classify("家里信号很差，打电话老是掉线")
    assert got.category == "network"
    assert got.rule.startswith("keywords:network:")
    assert "信号" in got.rule and "掉线" in got.rule


def test_valid_hint_decides_when_the_text_has_no_signal() -> None:
    got = classify("请尽快处理，谢谢", hint="billing")
    assert (got.category, got.rule) == ("billing", "hint:billing")
    assert 0.0 < got.confidence < 0.6


def test_hint_cannot_outvote_strong_text_evidence() -> None:
    got = classify("家里信号很差，打电话老是掉线，上网也上不了", hint="billing")
    assert got.category == "network"


def test_hint_breaks_a_close_call_and_is_named_in_the_rule() -> None:
    text = "每月都收我10块钱，办的时候说免费"
    assert classify(text, hint="billing").category == "billing"
    assert classify(text, hint="tariff").category == "tariff"
    assert classify(text, hint="tariff").rule.endswith("+hint")


def test_unknown_hint_is_ignored() -> None:
    text = "营业员态度太差"
    assert classify(text, hint="weather") == classify(text)
    assert classify("你好", hint="weather").rule == "default"


def test_text_without_signal_falls_back_to_the_default_category() -> None:
    for text in ("", "你好，我想反映一个问题", "   "):
        assert classify(text) == Classification("service", 0.0, "default")


def test_channel_alone_never_invents_a_category() -> None:
    assert classify("你好，我想反映一个问题", channel="sms").rule == "default"


def test_confidence_grows_with_clearer_evidence() -> None:
    clear = classify("信号差，掉线，打不通，没网").confidence
    single = classify("信号不太好").confidence
    mixed = classify("信号不好而且话费多扣了").confidence
    assert clear > single > mixed


def test_typos_and_full_width_characters_are_normalised() -> None:
    assert classify("手机信好差").category == "network"
    assert classify("５Ｇ信号差").rule == "keywords:network:信号差,5g"


def test_tokenizer_keeps_telecom_terms_whole() -> None:
    tokens = tokenize("我要办理携号转网，增值业务乱扣费，流量套餐也不对，宽带没网")
    for term in ("携号转网", "增值业务", "乱扣费", "流量", "套餐", "宽带", "没网"):
        assert term in tokens


def test_tokenizer_is_safe_to_first_use_from_many_threads() -> None:
    text = "5G信号差，VoLTE通话掉线"
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: tokenize(text), range(32)))
    assert all(r == results[0] for r in results)


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("你们再不给我解决，我就去营业厅打人", "打人"),
        ("我已经报警了", "报警"),
        ("逼得我不想活了", "不想活"),
        ("手机充电时冒烟了", "冒烟"),
        ("楼顶基站辐射太大，影响我们的人身安全", "人身安全"),
        ("他们威胁我说要弄死我", "威胁"),
    ],
)
def test_conflict_and_safety_language_is_urgent(text: str, term: str) -> None:
    signal = detect_urgent(text)
    assert signal.urgent
    assert term in signal.terms


@pytest.mark.parametrize(
    "text",
    ["我肺都气炸了，话费多扣了50", "新办的套餐和原来的业务冲突", "收到欠费报警短信", "信号差"],
)
def test_ordinary_anger_is_not_urgent(text: str) -> None:
    assert not detect_urgent(text).urgent


def test_major_hints_find_media_lawsuit_and_joint_mentions() -> None:
    hints = detect_major_hints("电视台记者已经来采访了，整栋楼的住户联名投诉，还要去法院起诉你们")
    assert hints.reasons == ("media", "lawsuit", "joint")
    assert "起诉" in hints.lawsuit


def test_major_hints_are_empty_for_an_ordinary_complaint() -> None:
    assert detect_major_hints("这个月话费多扣了20元").reasons == ()


def test_model_keeps_the_domain_taxonomy_and_the_legacy_loader_working() -> None:
    assert set(load_model().categories) == set(domain.CATEGORIES)
    assert domain.load_rules().default_category == load_model().default_category


def test_a_model_naming_an_unknown_term_weight_is_rejected(tmp_path: Path) -> None:
    data = json.loads(Path(domain.RULES_PATH).read_text(encoding="utf-8"))
    data["categories"]["network"]["term_weights"]["不存在的词"] = 3.0
    bad = tmp_path / "rules.json"
    bad.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ValueError, match="term_weights"):
        load_model(bad)
