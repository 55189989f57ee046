"""Outcomes nobody may miss: a send whose result is unknown (a lease that expired mid-send, no
submit_sm answer, a connection lost during SMTP DATA) and a required message that failed for
good. The first is re-sent a bounded number of times (domain.resend_when_uncertain); what is
still not delivered for sure then becomes `unknown` or `failed` with an ops alert (an e-mail
to `ops_email`, a log line and notify_delivery_alerts_total), never a quiet status."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from services.notify import domain
from services.notify.metrics import record_alert
from services.notify.models import Notification
from services.notify.recording import record
from services.notify.settings import NotifySettings
from shared.db import UnitOfWork

log = logging.getLogger(__name__)
ALERT_TEMPLATE = "delivery_alert"
MESSAGE_NAMES = {
    "ticket_registered": "投诉登记短信",
    "ticket_accepted": "受理短信",
    "ticket_first_reply": "首次答复短信",
    "ticket_resolved": "办结短信",
    "ticket_resolved_email": "办结结果邮件",
    "survey_unclear": "满意度回复说明短信",
    "ticket_reopened": "重新处理短信",
    "sla_extended": "时限延长短信",
    "refund_approved": "退费通知短信",
    "refund_paid": "退费到账短信",
    "surge_resolved": "批量问题解决短信",
    "sla_warning": "时限预警邮件",
    "sla_breached": "时限超时邮件",
    "ticket_escalated": "升级督办邮件",
    "progress_notice": "处理进展通报邮件",
    "progress_final": "处理结果通报邮件",
    "staff_alert": "同内容投诉预警邮件",
    "staff_alert_sms": "投诉预警短信",
    "webhook_disabled": "Webhook停用通知邮件",
}
OUTCOME_TEXT = {"unknown": "发送结果不明", "failed": "发送失败"}


def reason_text(n: Notification) -> str:
    """Why ops hear of it, in words (the technical detail is the notification's last_error)."""
    if n.status == "unknown":
        resent = max((n.uncertain_sends or 1) - 1, 0)
        return f"发送后未收到网关确认，客户可能已收到也可能未收到；已重发{resent}次，不再重发"
    return "网关拒收，或多次重试后仍未发出"


async def settle_uncertain(
    uow: UnitOfWork, n: Notification, now: datetime, reason: str, settings: NotifySettings
) -> None:
    """A send of `n` may or may not have reached the gateway: send again or alert."""
    n.lease_until = None
    resend = domain.resend_when_uncertain(
        channel=n.channel,
        required=n.required,
        uncertain_sends=n.uncertain_sends or 0,
        resend_max=settings.uncertain_resend_max,
    )
    n.uncertain_sends = (n.uncertain_sends or 0) + 1
    if resend and n.status == "pending":
        n.send_after = now + timedelta(seconds=settings.uncertain_resend_delay_s)
        n.last_error = f"outcome unknown ({reason}); sending again"
        if n.channel == "email":
            n.last_error += f" with the same Message-ID {n.provider_message_id}"
        return
    n.status, n.last_error = "unknown", f"outcome unknown ({reason}); not sent again"
    await alert_ops(uow, n, settings)


async def alert_ops(uow: UnitOfWork, n: Notification, settings: NotifySettings) -> None:
    """Tell ops that `n` (now `unknown` or `failed`) may not have reached its recipient."""
    record_alert(n.channel, n.status)
    log.error(
        "notification %s (%s to %s) %s: %s",
        n.id,
        n.template,
        n.recipient_masked,
        n.status,
        n.last_error,
    )
    if n.template == ALERT_TEMPLATE:
        return  # an alert about an alert would go to the same unreachable place
    values = {
        "ticket_no": n.ticket_no or "（无）",
        "message": MESSAGE_NAMES.get(n.template, "通知"),
        "outcome": OUTCOME_TEXT.get(n.status, "发送异常"),
        "recipient": n.recipient_masked or "（无）",
        "reason": reason_text(n),
        "notification_id": str(n.id),
        "attempts": str(n.attempts),
    }
    await record(
        uow,
        f"delivery-alert:{n.id}",
        ALERT_TEMPLATE,
        settings.ops_email,
        values,
        ticket_no=n.ticket_no,
    )


def needs_alert(n: Notification) -> bool:
    """A final failure ops must hear of: messages the rules require, and e-mail to staff."""
    return n.status in ("failed", "unknown") and (n.required or n.channel == "email")
