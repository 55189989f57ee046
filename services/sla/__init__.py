"""SLA: the Chinese working-day calendar and the complaint clocks."""
