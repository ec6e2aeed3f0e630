"""The import worker: runs a stored ImportJob (annotate.services.imports.import_job_run)."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings


@shared_task(
    name="annotate.import_job_run",
    queue="default",
    # The soft limit lets the service mark the job FAILED; the hard one ends a stuck worker.
    # Both stay below the broker's visibility timeout (annotate/checks.py).
    soft_time_limit=settings.CONCORD_JOB_TIME_LIMIT_SECONDS - 60,
    time_limit=settings.CONCORD_JOB_TIME_LIMIT_SECONDS,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def import_job_run_task(job_id: int, batch: str | None = None) -> None:
    """Run the job; a message for a job that is finished, or running under a live worker, does nothing.

    ``batch`` is read only from messages sent before the job row stored it.
    """
    from annotate.services.imports import import_job_run

    import_job_run(job_id=job_id, batch=batch)
