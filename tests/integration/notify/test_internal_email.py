"""Internal e-mail over SMTP to a real aiosmtpd server: SLA warnings and breaches to the
handler department and the supervisor, escalations, and the fixed progress notice."""

from __future__ import annotations

from tests.builders import eventually
from tests.integration.notify import events as ev
from tests.integration.notify.conftest import Mailbox, NotifyFactory

NETWORK = "network-maintenance@complaints.10086.example"
SUPERVISOR = "mgr_network@complaints.10086.example"
FRONTDESK = "frontdesk-10086@complaints.10086.example"


async def test_departments_and_the_supervisor_hear_about_deadlines_and_escalations(
    notify_app: NotifyFactory, mailbox: Mailbox
) -> None:
    async with notify_app() as notify:
        await notify.apply(
            ev.received("EM-1"),
            ev.sla_warning("EM-1"),
            ev.escalated("EM-1"),
            ev.sla_breached("EM-1"),
            ev.progress_notice("EM-1"),
        )

        async def all_sent() -> bool:
            emails = await notify.notifications("EM-1", channel="email")
            return len(emails) == 6 and all(n["status"] == "sent" for n in emails)

        await eventually(all_sent, within=10)
        subjects = {(m["To"], str(m["Subject"])) for m in mailbox.messages}
        assert (NETWORK, "【时限预警】投诉EM-1的首次答复时限将于11月24日10时前到期") in subjects
        # The supervisor is known from the escalation on: the breach reaches them too.
        assert {to for to, s in subjects if s.startswith("【时限超时】")} == {NETWORK, SUPERVISOR}
        assert {to for to, s in subjects if s.startswith("【升级督办】")} == {NETWORK, SUPERVISOR}
        [notice] = mailbox.to(FRONTDESK)
        assert str(notice["Subject"]) == "【处理进展通报】投诉EM-1已处理4天"
        text = notice.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "贵部门受理的投诉EM-1已处理4天" in text and "固定模板" in text
        # Display names, never codes: the salutation and the handler are in Chinese.
        assert text.startswith("10086前台：") and "处理部门：网络维护部" in text
        bodies = [m.get_body(("plain",)).get_content() for m in mailbox.messages]  # type: ignore[union-attr]
        assert not any("network_maintenance" in b or "sla_breach" in b for b in bodies)
        assert any("触发原因：时限超时" in b for b in bodies)
        listed = await notify.notifications("EM-1", channel="email")
        assert all("***@" in n["recipient"] for n in listed)
