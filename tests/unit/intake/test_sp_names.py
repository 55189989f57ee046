"""SP names in a complaint's text, from the lexicon (services/intake/sp_lexicon.tsv)."""

from __future__ import annotations

import pytest

from services.intake.sp_names import for_complaint, recognise


@pytest.mark.parametrize(
    ("text", "sp_code", "product"),
    [
        ("莫名其妙订了咪咕视频会员，每月扣15元", "MIGU", "migu_video"),
        ("手机上的视频彩铃不是我开的", "MIGU", "video_ringtone"),
        ("话费里有一笔腾讯视频的费用", "TENCENT", "tencent_video"),
        ("芒果TV包月我没订过", "MANGO", "mango_tv"),  # full-width and case folded
        ("梦网业务未经同意扣费", "MONTERNET", "monternet"),
    ],
)
def test_sp_names_are_recognised_longest_first(text: str, sp_code: str, product: str) -> None:
    found = recognise(text)
    assert found is not None and (found.sp_code, found.product) == (sp_code, product)


def test_a_code_written_in_the_complaint_wins_over_a_name() -> None:
    found = recognise("咪咕视频扣费，短信里写着企业代码：901234")
    assert found is not None and found.sp_code == "901234" and found.product is None


def test_text_without_an_sp_names_none() -> None:
    assert recognise("家里信号很差，经常掉线") is None


def test_only_charge_complaints_are_attributed_and_a_given_code_wins() -> None:
    assert for_complaint(None, "咪咕视频一直卡顿", "network") == (None, None)
    code, found = for_complaint(None, "咪咕视频扣了我15元", "billing")
    assert code == "MIGU" and found is not None and found.evidence == "咪咕视频"
    assert for_complaint("SP901234", "咪咕视频扣了我15元", "billing") == ("SP901234", None)
