"""Intake: the system of record for complaints and their first-contact owner."""
