"""Routing: department accountability, transfers, escalation, same-content surges."""
