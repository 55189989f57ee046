"""`make bench`: numbers next to a baseline measured in the same run (never asserted in tests)."""
