"""Staff alerts (seed 004 §3.5): one digest per cluster and alert to each person routing's
directory names, by e-mail and, for urgent ones, SMS (urgent templates skip quiet hours)."""

from __future__ import annotations

import uuid

from services.notify import domain
from services.notify.recording import record
from services.notify.settings import NotifySettings
from shared.db import UnitOfWork, utcnow
from shared.events import StaffAlertRaised, StaffContact

ROLE_TITLE = {
    "shift_leader": "班长",
    "marketing_manager": "营销经理",
    "department_contact": "值班人员",
    "department_manager": "部门经理",
    "leader_in_charge": "领导",
}

# kind -> (title, what happened, what to do); {count}, {unit}, {due}, {departments} filled in
TEXTS: dict[str, tuple[str, str, str]] = {
    "front_desk": (
        "同内容投诉预警",
        "10086前台{unit}本班次已受理{count}单同内容投诉",
        "请立即核实情况，并督促责任部门（{departments}）1小时内给予初步答复。",
    ),
    "service_hall": (
        "同内容投诉预警",
        "营业厅{unit}两天内已受理{count}单同内容投诉",
        "请立即了解情况，协调责任部门（{departments}）尽快处理。",
    ),
    "department": (
        "请1小时内初步答复",
        "贵部门负责的同内容投诉已有{count}单",
        "请于{due}前在投诉处理系统中给予初步答复。",
    ),
    "department_manager": (
        "同内容投诉上报",
        "同内容投诉自发现以来已达{count}单，超过部门经理上报标准",
        "请督促责任部门（{departments}）尽快给予初步答复并处理。",
    ),
    "answer_overdue": (
        "初步答复超时",
        "同内容投诉（{count}单）的初步答复已于{due}超时，责任部门（{departments}）尚未答复",
        "请立即督办，尽快给出初步答复。",
    ),
    "company_leader": (
        "重大投诉上报",
        "同内容投诉在初步答复前已达{count}单，已按重大投诉处理",
        "请知悉并督办；责任部门（{departments}）须在1小时内提出临时方案。",
    ),
    "over_level": (
        "重大投诉上报",
        "消协及越级单位转来的同内容投诉已达{count}单，已按重大投诉处理",
        "请知悉并督办；责任部门（{departments}）须在1小时内提出临时方案。",
    ),
    "major": (
        "重大投诉上报",
        "同内容投诉（{count}单）已被认定为重大投诉",
        "请知悉并督办；责任部门（{departments}）须于{due}前提出临时方案。",
    ),
    "temporary_plan": (
        "请1小时内提交临时方案",
        "同内容投诉（{count}单）已按重大投诉处理，由贵部门牵头处理",
        "请于{due}前在投诉处理系统中提交临时方案。",
    ),
    "incident_declared": (
        "启动应急预案",
        "已宣布突发事件“{unit}”，相关投诉（目前{count}单）将统一处理",
        "请于{due}前知悉并组织应急处置，统一对外口径。",
    ),
    "temporary_plan_overdue": (
        "临时方案超时",
        "重大投诉（{count}单）的临时方案已于{due}超时，责任部门（{departments}）尚未提交",
        "请立即督办。",
    ),
}
GENERIC = ("投诉预警", "同内容投诉已达{count}单", "请及时处理。")


class StaffAlerts:
    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings

    def _values(self, event: StaffAlertRaised, who: StaffContact | None) -> dict[str, str]:
        s = self.settings
        title, what, todo = TEXTS.get(event.kind, GENERIC)
        fill = {
            "count": str(event.count),
            "unit": event.unit or "",
            "due": domain.deadline_text(event.due_at, utcnow(), s.timezone)
            if event.due_at
            else "尽快",
            "departments": "、".join(s.department_name(d) for d in event.departments) or "相关部门",
        }
        shown = "、".join(event.tickets)
        more = f"等{event.count}单" if event.count > len(event.tickets) else ""
        greeting = f"{who.name}{ROLE_TITLE.get(who.role, '')}您好" if who else "各位同事"
        return {
            "ticket_no": event.ticket_no,
            "title": title,
            "what": what.format_map(fill),
            "todo": todo.format_map(fill),
            "greeting": greeting,
            "tickets": shown + more,
            "cluster_id": event.cluster_id or "",
            "raised_at": domain.local_time_text(event.raised_at, s.timezone),
            "missing": "" if who else "（员工目录中未找到负责人，请在员工目录中补充。）\n",
        }

    async def on_staff_alert_raised(self, event: StaffAlertRaised, uow: UnitOfWork) -> None:
        """Once per recipient and alert: the event id is stable across redelivery and the
        notification key (event, template, recipient) is unique."""
        key = str(uuid.uuid5(uuid.NAMESPACE_URL, f"staff-alert:{event.alert_key}"))
        if not event.recipients:
            values = self._values(event, None)
            await record(uow, key, "staff_alert", self.settings.ops_email, values)
            return
        for who in event.recipients:
            values = self._values(event, who)
            if who.email:
                await record(uow, key, "staff_alert", who.email, values)
            if who.mobile and event.urgent:
                await record(uow, key, "staff_alert_sms", who.mobile, values)
