"""Fixtures that run a real Celery worker on Redis against the test database (written by the imports work)."""
