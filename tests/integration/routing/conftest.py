"""Routing's alerts are proven through to notify's real SMTP and SMPP peers: its fixtures."""

from tests.integration.notify.conftest import mailbox, notify_app, smsc

__all__ = ["mailbox", "notify_app", "smsc"]
