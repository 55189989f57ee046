"""Survey answers as customers type them; the result as the SMS quotes it."""

from __future__ import annotations

import pytest

from services.notify import domain


@pytest.mark.parametrize(
    ("text", "satisfied", "score"),
    [
        ("1", True, 4),
        ("１", True, 4),
        ("满意", True, 4),
        ("满意。", True, 4),
        ("非常满意！", True, 5),
        ("一般", True, 3),
        ("2", False, 1),
        ("不满意", False, 1),
        ("不 满意", False, 1),
        ("很不满意", False, 1),
    ],
)
def test_survey_answers_customers_type_are_understood(
    text: str, satisfied: bool, score: int
) -> None:
    assert domain.parse_survey_answer(text) == domain.SurveyAnswer(satisfied, score)


@pytest.mark.parametrize("text", ["好的", "3", "信号还是不好", "", "满意吗"])
def test_anything_else_is_no_answer(text: str) -> None:
    assert domain.parse_survey_answer(text) is None


def test_a_long_result_is_cut_with_a_pointer_to_10086() -> None:
    text = "经核查" + "基站光缆被挖断已抢修完毕" * 10
    quoted = domain.result_for_sms(text, 60)
    assert len(quoted) < 80 and quoted.startswith("经核查基站")
    assert quoted.endswith("…（详情请咨询10086）")


def test_a_short_result_is_quoted_whole_and_none_points_to_10086() -> None:
    assert domain.result_for_sms("已退费10元。", 60) == "已退费10元"
    assert domain.result_for_sms(None, 60) == "详情请咨询10086"
