"""Benchmarks: scripts run as `python bench/<name>.py`; each prints a table and, last, one JSON line."""
