"""Celery tasks of the annotate app; each submodule's tasks are imported here for autodiscovery."""

from annotate.tasks.cleanup import import_files_clean_task  # noqa: F401
from annotate.tasks.exports import export_job_run_task  # noqa: F401
from annotate.tasks.imports import import_job_run_task  # noqa: F401
from annotate.tasks.jobs import reap_jobs  # noqa: F401
from annotate.tasks.leases import reclaim_expired_leases  # noqa: F401
