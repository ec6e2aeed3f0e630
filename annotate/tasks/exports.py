"""Export tasks: take an ExportJob id, call the export service."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings


@shared_task(
    name="annotate.export_job_run",
    queue="default",
    # The soft limit lets the service mark the job FAILED; the hard one ends a stuck worker.
    # Both stay below the broker's visibility timeout (annotate/checks.py).
    soft_time_limit=settings.CONCORD_JOB_TIME_LIMIT_SECONDS - 60,
    time_limit=settings.CONCORD_JOB_TIME_LIMIT_SECONDS,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def export_job_run_task(job_id: int) -> str:
    """Run the job; a message for a job that is finished, or running under a live worker, does nothing."""
    from annotate.services.exports import export_job_run

    job = export_job_run(job_id=job_id)
    return job.status if job is not None else "skipped"
