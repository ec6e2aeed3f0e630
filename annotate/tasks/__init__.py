"""Celery tasks of the annotate app; each submodule's tasks are imported here for autodiscovery."""
