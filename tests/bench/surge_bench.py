"""Same-content surge detection at a 100,000-complaint window, next to brute force.

Ours: `SurgeDetector.observe` end to end (normalise, jieba, MinHash, LSH query, confirm,
cluster, rules, expiry) for a batch of new complaints against a window that already holds
`window` complaints. The window is loaded through `SurgeDetector.restore` from a snapshot of the
synthetic stream clustered by its true problems, so the bench does not spend minutes filling it.
Memory is the tracemalloc peak of restore + batch, traced in a child process on the second core.
Baseline: the same shingles compared by exact Jaccard with every complaint in a `baseline`
window, the obvious implementation, timed the same way; its cost grows with the window, so its
rate at `window` is projected from the measured one.
Synthetic stream: network = place + two symptoms, SP = how + product + what, billing = item +
what + amount, each worded afresh from phrase pools; 85 % name an area, 80 % a subject (SP code,
billing item); 30 % of complaints belong to surges of 5 to a few hundred, the rest are one-offs.

`python -m tests.bench.surge_bench [--quick] [--window N] [--batch N] [--baseline N]`
"""

from __future__ import annotations

import argparse
import base64
import random
import time
import tracemalloc
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from services.routing.surge import Complaint, SurgeConfig, SurgeDetector, shingles, sketch
from tests.bench.report import Report


def _pool(words: str) -> list[str]:
    return words.split()


DISTRICTS = ["天河区", "越秀区", "海珠区", "荔湾区", "白云区", "黄埔区", "番禺区", "花都区"]
FIRST = "东西南北新华金银龙凤桂荔岗沙石江湖山塘田桥沥涌洲坑"
SECOND = "安康乐泰和平兴隆丰盛景福瑞祥富贵宁德昌明华光海"
SUFFIX = ["路", "大道", "街", "村", "小区", "花园", "广场", "新村", "苑", "大厦", "地铁站"]
OPENER = ["客户反映", "客户来电称", "本人", "我家在", "用户投诉", "", "机主反映"]
WHEN = ["", "今天", "从昨晚开始", "这两天", "上午起", "最近一周", "下午三点后"]
TAIL = ["", "，影响工作", "，家里老人联系不上", "，请尽快处理", "，已经报修过", "，要求赔偿"]
NETWORK = [
    "手机没有信号", "一直显示无服务", "信号全无", "一格信号都没有", "搜不到网络", "打电话经常掉线",
    "通话老是断", "电话说几句就断", "通话中途掉线", "通话断断续续", "上网非常慢", "网页打不开",
    "4G网速很卡", "视频加载不出来", "测速只有几十K", "宽带断网", "光猫红灯闪", "宽带上不了网",
    "WiFi连上了没网", "打电话有回音", "能听到自己的回声", "通话有杂音", "对方听不到我说话",
    "短信发不出去", "收不到验证码短信", "短信延迟几个小时", "拨号提示网络忙", "只能拨打紧急呼叫",
    "5G图标消失只能用4G", "室内信号只有一格", "电梯里没信号", "地下车库没信号", "扫码支付付不了",
    "微信消息发不出去", "视频通话卡顿", "高清通话用不了", "晚上高峰期网速慢", "IPTV画面卡顿",
    "网络时断时续", "重启手机也没用",
]  # fmt: skip
WHO = [
    "我妈", "我爸", "老婆", "孩子", "同事", "邻居", "房东", "客户", "快递员", "物业", "老师",
    "司机", "店员", "医生", "朋友", "外婆", "亲戚", "组长", "师傅", "保安",
]  # fmt: skip
WHAT = [
    "打不进来", "联系不上", "收不到通知", "看不了网课", "付不了款", "没法视频", "登不上系统",
    "等了一下午", "跑了两趟营业厅", "错过面试电话", "没法导航", "耽误了订单", "以为手机坏了",
    "换卡也没用", "重启好几次", "去楼下也一样", "查了很多遍", "被催了好几次", "没法打卡", "很着急",
]  # fmt: skip
SP_BODY = _pool(
    "会员 彩铃 资讯 游戏 阅读 视频 早报 课堂 笑话 运势 音乐 漫画 健身 股票 彩票 天气 壁纸 "
)

SP_TAIL = _pool("包 月包 季卡 畅享版 特权 礼包 专区 俱乐部 ")

SP_HOW = _pool(
    "莫名其妙开通了 没订过 点了短信链接就被订了 看视频误触弹窗开通了 孩子误点了 "
    "营业厅办卡时被加了 老人手机被订了 退订后又被二次订购 从没收到确认短信就开通了 "
    "升级系统后自动开通了 被默认勾选了 接了推销电话就被开了 刷抖音时点广告开通了 "
    "扫二维码领礼品后开通了 连公共WiFi后弹出了 换手机后出现了 停机复机后冒出来 "
    "充值送的 参加抽奖后多了 从来不知道有 "
)

SP_WHAT = _pool(
    "每月扣{a}元 {c}一直发扣费短信 回复TD退订无效 要求退费 要求双倍返还 "
    "账单上有{a}元信息费 已经扣了三个月 查详单才发现 10086说查不到订购记录 "
    "APP里找不到退订入口 包月{a}元不知情 一直在扣话费 余额突然少了{a}元 "
    "一天扣了好几次 短信确认码不是我回的 要求查订购渠道 要求开具证明 "
    "希望屏蔽所有增值业务 已经向工信部反映 合计被扣{a}多元 "
)

BILLING_ITEM = _pool(
    "月租 国际长途费 超出流量费 宽带月费 副卡功能费 短信费 漫游费 家庭网费 "
    "来电显示费 通话费 合约返还话费 积分兑换话费券 彩信费 停机保号费 靓号低消 "
    "集团网费 亲情号码费 彩铃功能费 语音信箱费 流量日包费 视频通话费 号码保留费 "
    "终端分期款 IPTV月费 "
)

BILLING_WHAT = _pool(
    "被重复扣了{a}元 多收了{a}元 拆机后还在扣{a}元 没有通知就涨到{a}元 "
    "没到账{a}元 和详单对不上差{a}元 停机期间也扣了{a}元 "
    "转网后还催缴{a}元 比上月多了{a}元 优惠没生效按{a}元收 "
    "充值{a}元后还是欠费 退费{a}元一直没退 按原价{a}元收取 "
    "销户后还扣{a}元 出国期间扣了{a}元 开发票时少了{a}元 "
    "营业员说免收却扣了{a}元 自动续费{a}元没提醒 扣款失败却显示{a}元已付 "
)


@dataclass(frozen=True)
class _Problem:
    """One problem; each complaint about it picks its own words from the problem's phrases."""

    category: str
    where: str | None
    subject: str | None
    phrases: tuple[str, ...]
    details: tuple[str, ...]
    start: datetime
    hours: float

    def describe(self, rng: random.Random) -> str:
        where = (rng.choice(["", rng.choice(DISTRICTS)]) + self.where) if self.where else ""
        said = "，".join(
            [*rng.sample(self.phrases, 2 if self.where else 1), rng.choice(self.details)]
        )
        return rng.choice(OPENER) + where + rng.choice(WHEN) + said + rng.choice(TAIL)


def _problem(rng: random.Random, start: datetime) -> _Problem:
    kind, hours = rng.random(), rng.uniform(0.5, 14)
    details = tuple(rng.choice(WHO) + rng.choice(WHAT) for _ in range(4))
    # every phrase names the problem's subject (place, SP service, amount), as real ones do
    if kind < 0.55:
        where = rng.choice(FIRST) + rng.choice(SECOND) + rng.choice(SUFFIX)
        phrases = tuple(rng.sample(NETWORK, 4))
        return _Problem("network", where, None, phrases, details, start, hours)
    if kind < 0.8:
        sp = rng.choice(FIRST) + rng.choice(SECOND) + rng.choice(SP_BODY) + rng.choice(SP_TAIL)
        a, c = rng.randint(2, 30), f"10658{rng.randint(100, 999)}"
        how, what = rng.sample(SP_HOW, 2), rng.sample(SP_WHAT, 2)
        phrases = tuple(f"{h}{sp}，{w.format(a=a, c=c)}" for h in how for w in what)
        return _Problem("value_added", None, c, phrases, details, start, hours)
    item, a = rng.choice(BILLING_ITEM), rng.randint(5, 300)
    phrases = tuple(f"{item}{w.format(a=a)}" for w in rng.sample(BILLING_WHAT, 4))
    return _Problem("billing", None, item, phrases, details, start, hours)


def stream(n: int, *, seed: int = 7, hours: float = 56.0) -> list[tuple[Complaint, int]]:
    """n (complaint, problem no) within hours + 14 h: 30 % in surges of 5 to hundreds."""
    rng = random.Random(seed)
    t0 = datetime(2025, 3, 3, tzinfo=UTC)
    events: list[tuple[datetime, int, int, _Problem]] = []
    budget, problems = int(n * 0.3), 0
    while budget > 0:
        problem, problems = _problem(rng, t0 + timedelta(hours=rng.uniform(0, hours))), problems + 1
        size = min(budget, int(rng.paretovariate(1.2) * 5))
        for _ in range(size):
            at = problem.start + timedelta(hours=rng.uniform(0, problem.hours))
            events.append((at, len(events), problems, problem))
        budget -= size
    while len(events) < n:
        start, problems = t0 + timedelta(hours=rng.uniform(0, hours)), problems + 1
        events.append((start, len(events), problems, _problem(rng, start)))
    events.sort(key=lambda e: (e[0], e[1]))
    return [
        (
            Complaint(
                ticket_no=f"T{i:08d}",
                text=problem.describe(rng),
                category=problem.category,
                received_at=at,
                area=(problem.where or rng.choice(DISTRICTS)) if rng.random() < 0.85 else None,
                subject=problem.subject if rng.random() < 0.8 else None,
                desk_id=f"D{rng.randint(1, 300):03d}",
                store_id=f"H{rng.randint(1, 80):02d}" if rng.random() < 0.1 else None,
                over_level=rng.random() < 0.02,
            ),
            number,
        )
        for i, (at, _, number, problem) in enumerate(events)
    ]


def warm(labelled: list[tuple[Complaint, int]], config: SurgeConfig) -> dict[str, Any]:
    """A snapshot holding every complaint in the cluster of its true problem."""
    clusters: dict[int, dict[str, Any]] = {}
    features = SurgeDetector(config)._features  # place, symptom, product keys, as observe does
    for complaint, number in labelled:
        cluster = clusters.setdefault(
            number,
            {
                "cluster_id": f"P{number}",
                "category": complaint.category,
                "fired": [],
                "major": False,
                "major_tickets": [],
                "discovered_at": None,
                "answer_due_at": None,
                "answered_at": None,
                "splits": 0,
                "members": [],
            },
        )
        signature = sketch(complaint.text, config).hashvalues
        cluster["members"].append(
            {
                "ticket_no": complaint.ticket_no,
                "received_at": complaint.received_at.isoformat(),
                "area": complaint.area,
                "subject": complaint.subject,
                "desk_id": complaint.desk_id,
                "store_id": complaint.store_id,
                "over_level": complaint.over_level,
                "signature": base64.b64encode(signature.tobytes()).decode(),
                "features": list(features(complaint)),
                "reasons": [],
            }
        )
    for cluster in clusters.values():  # like the detector, index only the newest members
        for member in cluster["members"][: -config.max_indexed_per_cluster]:
            member["signature"] = None
    detector = SurgeDetector(config)
    last = max(c.received_at for c, _ in labelled)
    snapshot = detector.snapshot() | {"watermark": last.isoformat()}
    return snapshot | {"clusters": list(clusters.values())}


def observe_all(detector: SurgeDetector, batch: list[tuple[Complaint, int]]) -> float:
    """Seconds to observe every complaint of the batch."""
    t0 = time.perf_counter()
    for complaint, _ in batch:
        detector.observe(complaint)
    return time.perf_counter() - t0


def _ours(window: int, batch: int, seed: int) -> tuple[float, float]:
    """(seconds to restore `window` complaints, seconds to observe `batch` more)."""
    config = SurgeConfig()
    labelled = stream(window + batch, seed=seed)
    snapshot = warm(labelled[:window], config)
    t0 = time.perf_counter()
    detector = SurgeDetector.restore(snapshot, config)
    restored = time.perf_counter() - t0
    return restored, observe_all(detector, labelled[window:])


def traced_peak_mib(window: int, batch: int) -> float:
    """Child process: tracemalloc peak of restoring `window` complaints and observing a batch."""
    config = SurgeConfig()
    labelled = stream(window + batch)
    snapshot = warm(labelled[:window], config)
    SurgeDetector().observe(labelled[0][0])  # jieba's dictionary is not the window's cost
    tracemalloc.start()
    detector = SurgeDetector.restore(snapshot, config)
    observe_all(detector, labelled[window:])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def brute_force(window: int, batch: int, seed: int, threshold: float) -> float:
    """Seconds to cluster a batch against the last `window` complaints by exact Jaccard."""
    held: deque[tuple[str, set[str], int]] = deque(maxlen=window)
    labelled = stream(window + batch, seed=seed)
    for complaint, _ in labelled[:window]:
        held.append((complaint.category, shingles(complaint.text), len(held)))
    t0 = time.perf_counter()
    for complaint, _ in labelled[window:]:
        items, best, cluster = shingles(complaint.text), threshold, -1
        for category, other, other_cluster in held:
            if category == complaint.category and items and other:
                score = len(items & other) / len(items | other)
                if score >= best:
                    best, cluster = score, other_cluster
        held.append((complaint.category, items, cluster if cluster >= 0 else len(held)))
    return time.perf_counter() - t0


def run(*, window: int = 100_000, batch: int = 2_000, baseline: int = 2_000) -> Report:
    """Ours at `window` and at `baseline` complaints held, brute force at `baseline`."""
    report = Report(f"surge: same-content detection, {window} held vs brute force at {baseline}")
    SurgeDetector().observe(stream(1)[0][0])  # load jieba outside the timings
    with ProcessPoolExecutor(max_workers=1) as pool:
        memory = pool.submit(traced_peak_mib, window, batch // 10)
        restore_s, big_s = _ours(window, batch, seed=7)
        _, small_s = _ours(baseline, batch, seed=11)
        brute_s = brute_force(baseline, batch, seed=11, threshold=SurgeConfig().similarity)
        peak_mib = memory.result()
    brute_rate = batch / brute_s
    projected = brute_rate * baseline / window
    report.add(f"brute force: throughput, {baseline} held", brute_rate, "compl/s")
    report.add(
        f"ours: throughput, {baseline} held", batch / small_s, "compl/s", baseline=brute_rate
    )
    report.add(f"brute force: throughput, {window} held (projected)", projected, "compl/s")
    report.add(f"ours: throughput, {window} held", batch / big_s, "compl/s", baseline=projected)
    report.add(f"ours: restore {window} from a snapshot", restore_s, "s")
    report.add(f"ours: tracemalloc peak, {window} held", peak_mib, "MiB")
    report.add("ours: memory per held complaint", peak_mib * 2**20 / window / 1024, "KiB")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="10,000 held, batches of 500")
    parser.add_argument("--window", type=int, help="complaints held (default 100,000)")
    parser.add_argument("--batch", type=int, help="complaints timed (default 2,000)")
    parser.add_argument("--baseline", type=int, help="brute-force window (default 2,000)")
    args = parser.parse_args()
    window = args.window or (10_000 if args.quick else 100_000)
    batch = args.batch or (500 if args.quick else 2_000)
    baseline = args.baseline or (500 if args.quick else 2_000)
    run(window=window, batch=batch, baseline=baseline).print()


if __name__ == "__main__":
    main()
