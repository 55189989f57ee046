"""Refund: authority limits, approvals, SP disputes and an audit trail."""
