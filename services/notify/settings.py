"""Notify settings (env prefix NOTIFY_): transports, sinks, customer-contact policy, webhooks."""

from __future__ import annotations

from datetime import time
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from services.notify.domain import ContactPolicy, QuietHours
from services.notify.policy import DEPARTMENT_NAMES, NotificationPolicy
from shared.settings import ServiceSettings

DEFAULT_DEPARTMENT_EMAILS = {
    "frontdesk_10086": "frontdesk-10086@complaints.10086.example",
    "service_hall": "service-hall@complaints.10086.example",
    "network_maintenance": "network-maintenance@complaints.10086.example",
    "billing_support": "billing-support@complaints.10086.example",
    "value_added": "value-added@complaints.10086.example",
    "marketing": "marketing@complaints.10086.example",
    "service_management": "service-management@complaints.10086.example",
    "device_support": "device-support@complaints.10086.example",
    "leadership": "leadership@complaints.10086.example",
}


DEV_SECRET = frozenset({"", "notify", "secret", "password", "changeme"})


class NotifySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFY_", extra="ignore")

    service_name: str = "notify"
    port: int = 8005
    notification_log_retention_days: float = 3 * 365
    """Seed 003 §4.4.2: complaint-handling records, the messages sent included, are kept at
    least 3 years; the retention job deletes the delivery log after that."""

    # --- local sinks (embedded default) ----------------------------------------------------
    sinks_enabled: bool | None = None
    """Start an in-process SMPP sink and SMTP sink and send to them (default: env=embedded)."""
    sink_host: str = "127.0.0.1"
    sink_smpp_port: int = 0
    """0 picks a free port, so several local systems can run side by side."""
    sink_smtp_port: int = 0
    sink_receipt_delay_s: float = 0.2
    """The SMPP sink answers each submit with a DELIVRD receipt after this delay."""

    # --- SMS over SMPP 3.4 -----------------------------------------------------------------
    sms_transport: Literal["smpp", "cmpp", "none"] = "smpp"
    smpp_host: str = "127.0.0.1"
    smpp_port: int = 2775
    smpp_system_id: str = "notify"
    smpp_password: str = "notify"
    smpp_system_type: str = ""
    smpp_source_addr: str = "10086"
    smpp_window: int = Field(10, ge=1, le=256)
    """Outstanding submit_sm PDUs per bind (SMPP windowing)."""
    smpp_submit_timeout_s: float = 10.0
    smpp_connect_timeout_s: float = 5.0
    smpp_reconnect_initial_s: float = 0.5
    smpp_reconnect_max_s: float = 30.0

    # --- SMS over CMPP 3.0 (sms_transport="cmpp") -------------------------------------------
    cmpp_host: str = "127.0.0.1"
    cmpp_port: int = 7890
    cmpp_sp_id: str = "901234"
    """Source_Addr: the SP's 6-digit enterprise code (企业代码)."""
    cmpp_secret: str = "notify"
    cmpp_src_id: str = "1065710086"
    """The service number customers see as the sender (and reply to)."""
    cmpp_service_id: str = ""
    cmpp_window: int = Field(16, ge=1, le=256)

    # --- e-mail over SMTP ------------------------------------------------------------------
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_tls: Literal["none", "starttls", "tls"] = "none"
    smtp_timeout_s: float = 10.0
    mail_from: str = "10086-complaints@complaints.10086.example"
    email_domain: str = "complaints.10086.example"
    """Staff without an entry in `staff_emails` get `<staff id>@<email_domain>`."""
    department_emails: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_DEPARTMENT_EMAILS)
    )
    staff_emails: dict[str, str] = Field(default_factory=dict)
    ops_email: str = "ops@complaints.10086.example"

    # --- customer-contact policy -----------------------------------------------------------
    timezone: str = "Asia/Shanghai"
    quiet_hours_start: time = time(22, 0)
    quiet_hours_end: time = time(8, 0)
    sms_rate_limit_count: int = Field(5, ge=1)
    """At most this many non-urgent SMS per customer per window; more wait for the window."""
    sms_rate_limit_window_s: int = Field(3600, ge=1)
    sms_result_max_chars: int = Field(60, ge=10, le=300)
    """The result SMS quotes the resolution up to this many characters, then points to
    10086 (the whole SMS stays within about three segments)."""
    wake_severities: frozenset[str] = frozenset({"urgent"})
    """The registration SMS of a complaint of these severities ignores quiet hours."""
    department_names: dict[str, str] = Field(default_factory=lambda: dict(DEPARTMENT_NAMES))
    """Display names staff e-mails use instead of department codes."""
    registration_wait_for_clocks_s: float = 15.0
    """The registration SMS waits this long for the promised times (SlaClocksStarted), then
    goes out without them."""

    # --- dispatcher ------------------------------------------------------------------------
    dispatch_interval_s: float = 0.2
    dispatch_idle_s: float = 2.0
    """With nothing recorded meanwhile, how long the dispatcher sleeps before it looks for
    retries that came due and expired leases (a new message wakes it at once)."""
    dispatch_batch: int = 200
    send_max_attempts: int = 5
    send_retry_base_s: float = 5.0
    send_lease_s: float = 120.0
    """A row claimed this long ago without an outcome was interrupted mid-send: its outcome
    is unknown (see `uncertain_resend_max`)."""
    uncertain_resend_max: int = Field(1, ge=0, le=5)
    """How often a message whose outcome is unknown (lease expired mid-send, no submit_sm
    answer in time, the SMTP connection lost after DATA) is sent again. Only messages the
    rules require (the registration/acknowledgement SMS: a second copy is better than none)
    and e-mail (re-sent with the same Message-ID, so mail systems can fold the copies) are
    re-sent; others are not. Past this, or for the others at once, the notification's
    status becomes `unknown` and ops are alerted (e-mail to `ops_email`, metric
    notify_delivery_alerts_total)."""
    uncertain_resend_delay_s: float = 60.0
    """Wait before re-sending a message whose outcome is unknown (a late receipt or a
    gateway answer may still settle it)."""
    inbound_dedup_window_s: float = 3600.0
    """A customer SMS with the same sender, addresses, coding and bytes within this window is
    the gateway delivering it again (our answer was lost): it is applied once."""

    # --- partner webhooks ------------------------------------------------------------------
    webhook_allow_private_targets: bool | None = None
    """Allow loopback/private target addresses (default: everywhere but production)."""
    webhook_timeout_s: float = 10.0
    webhook_total_timeout_s: float = 15.0
    """The whole attempt (connect, send, read) ends by then: a trickling endpoint cannot hold a
    sender slot longer (httpx's timeout is per read, not total)."""
    webhook_response_max_bytes: int = 4096
    """How much of a partner's response body is read (an excerpt is kept, the rest dropped)."""
    webhook_concurrency: int = 32
    webhook_batch: int = 200
    webhook_disable_after_failing_s: int = 5 * 24 * 3600
    webhook_secret_rotation_grace_s: int = 24 * 3600
    webhook_max_retry_after_s: int = 24 * 3600
    webhook_lease_s: float = 60.0

    @property
    def sinks_on(self) -> bool:
        return self.env == "embedded" if self.sinks_enabled is None else self.sinks_enabled

    @property
    def private_targets_allowed(self) -> bool:
        if self.webhook_allow_private_targets is None:
            return not self.production
        return self.webhook_allow_private_targets

    def contact_policy(self) -> ContactPolicy:
        return ContactPolicy(
            quiet=QuietHours(self.quiet_hours_start, self.quiet_hours_end, self.timezone),
            rate_limit_count=self.sms_rate_limit_count,
            rate_limit_window_s=self.sms_rate_limit_window_s,
        )

    def notification_policy(self) -> NotificationPolicy:
        return NotificationPolicy(
            contact=self.contact_policy(),
            wake_severities=self.wake_severities,
        )

    def department_name(self, code: str | None) -> str:
        if not code:
            return "未分派"
        return self.department_names.get(code, "相关部门")

    def department_email(self, code: str) -> str:
        return self.department_emails.get(code) or f"{code}@{self.email_domain}"

    def staff_email(self, staff: str) -> str:
        return self.staff_emails.get(staff) or f"{staff}@{self.email_domain}"

    @model_validator(mode="after")
    def _production_needs_real_gateways(self) -> NotifySettings:
        if self.production and self.sinks_on:
            raise ValueError("notify: local sinks cannot be enabled in production")
        if self.production and self.webhook_allow_private_targets:
            raise ValueError("notify: private webhook targets are refused in production (SSRF)")
        if self.production and self.sms_transport == "smpp" and self.smpp_password in DEV_SECRET:
            raise ValueError("notify: NOTIFY_SMPP_PASSWORD is a development password")
        if self.production and self.sms_transport == "cmpp" and self.cmpp_secret in DEV_SECRET:
            raise ValueError("notify: NOTIFY_CMPP_SECRET is a development secret")
        return self
