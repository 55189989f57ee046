"""Notify: SMS and e-mail to customers, signed webhooks to partners."""
