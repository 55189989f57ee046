"""The monthly report as an HTML page: cards, inline SVG bars and the dispatch table (no
scripts, prints well)."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.intake.reports import MonthlyReport


def _bars(title: str, data: Mapping[str, float], unit: str = "") -> str:
    """A horizontal bar chart as inline SVG (no scripts, prints well)."""
    if not data:
        return f"<section><h2>{html.escape(title)}</h2><p>—</p></section>"
    top = max(data.values()) or 1
    rows = []
    for i, (k, v) in enumerate(data.items()):
        width = 360 * v / top
        y = i * 26
        rows.append(
            f'<text x="0" y="{y + 16}">{html.escape(str(k))}</text>'
            f'<rect x="150" y="{y + 4}" width="{width:.1f}" height="16" fill="#2b6cb0"/>'
            f'<text x="{156 + width:.1f}" y="{y + 16}">{v:g}{unit}</text>'
        )
    height = 26 * len(data)
    return (
        f'<section><h2>{html.escape(title)}</h2><svg role="img" aria-label="{html.escape(title)}"'
        f' width="600" height="{height}" font-size="13">{"".join(rows)}</svg></section>'
    )


def _cell(value: object) -> str:
    return "—" if value is None else html.escape(str(value))


def _dispatched_table(report: MonthlyReport) -> str:
    """Other departments' responses to dispatched complaints (seed 004 §3.1) as a table."""
    rows = "".join(
        f"<tr><td>{_cell(d.department)}</td><td>{d.dispatched}</td><td>{d.replied}</td>"
        f"<td>{d.replied_in_time}</td><td>{d.resolved}</td>"
        f"<td>{_cell(d.median_hours_to_reply)}</td><td>{_cell(d.median_hours_to_resolve)}</td></tr>"
        for d in report.dispatched
    )
    return (
        "<section><h2>Dispatched complaints 派单回应情况</h2><table><tr><th>Department 部门</th>"
        "<th>Dispatched 派单</th><th>Replied 已答复</th><th>In time 及时</th>"
        "<th>Resolved 已办结</th><th>Median h to reply</th><th>Median h to resolve</th></tr>"
        f"{rows}</table></section>"
    )


def to_html(report: MonthlyReport) -> str:
    pct = {k: round(100 * r.rate, 1) for k, r in report.timeliness.items() if r.rate is not None}
    rates = {
        name: r
        for name, r in (
            ("Reply rate 回复率", report.reply_rate),
            ("Satisfaction 满意率", report.satisfaction),
            ("Reopen rate 重开率", report.reopen_rate),
        )
    }
    cards = "".join(
        f'<div class="card"><b>{html.escape(n)}</b><span>'
        f"{'—' if r.rate is None else f'{100 * r.rate:.1f}%'}</span>"
        f"<small>{r.numerator}/{r.denominator}</small></div>"
        for n, r in rates.items()
    )
    refunds: dict[str, float] = {t.label: t.count for t in report.refunds_by_tier}
    sp_rates: dict[str, float] = {s.sp_code: s.per_10000_users or 0 for s in report.sp_complaints}
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>Monthly complaint report {report.month}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 24px; color: #1a202c; }}
.cards {{ display: flex; gap: 16px; flex-wrap: wrap; }}
.card {{ border: 1px solid #cbd5e0; border-radius: 8px; padding: 12px 16px; min-width: 160px; }}
.card b, .card span, .card small {{ display: block; }}
.card span {{ font-size: 28px; }}
section {{ margin-top: 24px; }}
</style></head>
<body>
<h1>Monthly complaint report 投诉月度通报 — {report.month}</h1>
<div class="cards">
<div class="card"><b>Complaints 投诉量</b><span id="total">{report.complaints}</span>
<small>major {report.major} · over-level {report.over_level}
 · without a customer {report.without_customer}</small></div>
{cards}
<div class="card"><b>Surges 批量投诉</b><span>{report.surges}</span><small>&nbsp;</small></div>
</div>
{_bars("By category 按类别", dict(report.by_category))}
{_bars("By channel 按渠道", dict(report.by_channel))}
{_bars("By department 按部门", dict(report.by_department))}
{_dispatched_table(report)}
{_bars("By status 按状态", dict(report.by_status))}
{_bars("Timeliness per clock 及时率", pct, "%")}
{_bars("Refunds by tier 退费分级", refunds)}
{_bars("SP complaints per 10,000 users", sp_rates)}
</body></html>"""
