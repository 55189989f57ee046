"""Text: NFKC, Chinese numerals -> digits, phone numbers dropped, jieba tokens minus stopwords,
a few synonyms folded; shingles (char bigrams inside tokens) for the similarity sketch."""

from __future__ import annotations

import logging
import re
import unicodedata
import zlib
from functools import cache
from itertools import pairwise
from pathlib import Path

import jieba
import numpy as np

from services.routing.surge.rules import ShingleScheme

DATA = Path(__file__).with_name("data")

_DOMAIN_WORDS = (
    "咪咕", "魔百和", "和家亲", "和游戏", "139邮箱", "彩铃", "视频彩铃", "携号转网", "停机保号",
    "梦网", "流量包", "副卡", "主卡", "光猫", "机顶盒", "无服务", "紧急呼叫", "掉线", "单通",
    "回音", "断网", "宽带", "volte", "5g", "4g", "app", "网厅", "销户", "月租",
)  # fmt: skip
_SYNONYMS = {
    "没有": "无", "没": "无", "无法": "不", "不能": "不", "不了": "不", "不上": "不",
    "开通": "订", "订购": "订", "订了": "订", "开了": "订", "扣费": "扣", "扣除": "扣",
    "收取": "扣", "收费": "扣", "扣了": "扣", "收了": "扣", "每个月": "每月",
    "打不通": "打不出", "打不出去": "打不出", "接不通": "打不出", "打不进来": "打不出",
    "很慢": "慢", "特别慢": "慢", "很卡": "卡", "卡顿": "卡", "手机信号": "信号",
    "退款": "退费", "退钱": "退费", "退还": "退费", "退回": "退费", "销号": "销户",
}  # fmt: skip
_CN_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"〇": 0, "两": 2}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10000}
_UNIT_AHEAD = r"(?=多?(?:元|块|角|毛|分钟|天|个|月|次|小时|条|格|年|周|星期|楼|层|岁|g|兆|遍))"
_CN_NUMBER = re.compile(
    rf"[零〇一二两三四五六七八九十百千万]+{_UNIT_AHEAD}"
    r"|(?=[零〇一二两三四五六七八九十百千万]*[十百千万])[零〇一二两三四五六七八九十百千万]{2,}"
)
_NOISE_NUMBER = re.compile(r"1[3-9]\d{9}|1\d{2}\*{4}\d{4}|\d{12,}")
_KUAI = re.compile(r"(\d+(?:\.\d+)?)(多?)块钱?")


def _cn_to_int(text: str) -> int:
    total = section = digit = 0
    for ch in text:
        if ch in _CN_DIGITS:
            digit = _CN_DIGITS[ch]
        elif _CN_UNITS[ch] == 10000:
            total += (section + digit) * 10000
            section = digit = 0
        else:
            section += (digit or 1) * _CN_UNITS[ch]
            digit = 0
    return total + section + digit


def normalise(text: str) -> str:
    """Half-width lower case, digits for numerals, no phone numbers, punctuation as spaces."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _NOISE_NUMBER.sub(" ", text)
    text = _CN_NUMBER.sub(lambda m: str(_cn_to_int(m.group())), text)
    text = _KUAI.sub(r"\1\2元", text)
    return "".join(" " if unicodedata.category(c)[0] in "PSZC" else c for c in text)


@cache
def _stopwords() -> frozenset[str]:
    lines = (DATA / "stopwords.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(w.strip() for w in lines if w.strip() and not w.startswith("#"))


@cache
def _tokenizer() -> jieba.Tokenizer:
    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    for word in _DOMAIN_WORDS:
        tokenizer.add_word(word)
    return tokenizer


def tokens(text: str) -> list[str]:
    """Content tokens of a complaint: jieba words minus stopwords, synonyms folded."""
    stop = _stopwords()
    words = (w.strip() for w in _tokenizer().lcut(normalise(text)))
    return [_SYNONYMS.get(w, w) for w in words if w and w not in stop]


def shingles(text: str, scheme: ShingleScheme = "char_bigrams") -> set[str]:
    """The set compared by Jaccard: bigrams inside tokens, tokens, or tokens plus token pairs."""
    toks = tokens(text)
    if scheme == "tokens":
        return set(toks)
    if scheme == "token_pairs":
        return set(toks) | {f"{a}|{b}" for a, b in pairwise(toks)}
    # long numbers stay whole: 10658123 and 10658999 are two SP codes, not five shared bigrams
    return {
        w if len(w) > 4 and w.isdigit() else w[i : i + 2]
        for w in toks
        for i in range(max(1, len(w) - 1))
    }


def shingle_hashes(text: str, scheme: ShingleScheme = "char_bigrams") -> np.ndarray:
    """Sorted crc32 hashes of the shingles: stable across processes, so signatures can be stored."""
    hashes = (zlib.crc32(s.encode()) for s in shingles(text, scheme))
    return np.unique(np.fromiter(hashes, dtype=np.uint32))
