"""Notify's policy as typed data: the customer-contact rules (quiet hours, rate limit) and
which messages may wake a customer; the Chinese names staff and customers read instead of
codes. Values come from NotifySettings (NOTIFY_...); the defaults are here."""

from __future__ import annotations

from dataclasses import dataclass

from services.notify.domain import ContactPolicy

TRIGGER_NAMES = {
    "sla_breach": "时限超时",
    "major": "重大投诉",
    "conflict": "紧急投诉（冲突或安全风险）",
    "urgent": "紧急投诉",
    "ping_pong": "多次转派",
    "on_demand": "人工升级",
    "temporary_plan_missed": "临时方案超时",  # the limit is routing's (EscalationPolicy)
}
DEPARTMENT_NAMES = {
    "frontdesk_10086": "10086前台",
    "service_hall": "营业厅",
    "network_maintenance": "网络维护部",
    "billing_support": "计费支撑部",
    "value_added": "增值业务部",
    "marketing": "市场部",
    "service_management": "服务管理部",
    "device_support": "终端支撑部",
    "leadership": "公司领导",
}


@dataclass(frozen=True)
class NotificationPolicy:
    """Quiet hours and rate limit (ContactPolicy), and which messages may wake a customer:
    templates marked `urgent` in templates.json (none by default), and the registration SMS
    of a complaint whose severity is in `wake_severities` (seed 000: urgent complaints are
    handled at once). Everything else waits for the end of quiet hours."""

    contact: ContactPolicy
    wake_severities: frozenset[str] = frozenset({"urgent"})

    def may_wake(self, template: str, severity: str | None) -> bool:
        return template == "ticket_registered" and severity in self.wake_severities


def trigger_name(code: str) -> str:
    return TRIGGER_NAMES.get(code, "升级督办")


def threshold_text(threshold: str) -> str:
    """'75%|1wd' (the SLA event's rule) as staff read it."""
    parts = []
    for part in threshold.split("|"):
        if part.endswith("%") and part[:-1].isdigit():
            parts.append(f"已用去{part}的时限")
        elif part.endswith("wd") and part[:-2].isdigit():
            parts.append(f"距到期不足{part[:-2]}个工作日")
    return "或".join(parts) or "即将到期"
