"""The import worker: runs a stored ImportJob (annotate.services.imports.import_job_run)."""

from __future__ import annotations

from celery import shared_task

from annotate.services.imports import JOB_TIME_LIMIT_SECONDS


@shared_task(
    name="annotate.import_job_run",
    queue="default",
    # The soft limit lets the service mark the job FAILED; the hard one ends a stuck worker.
    soft_time_limit=JOB_TIME_LIMIT_SECONDS - 60,
    time_limit=JOB_TIME_LIMIT_SECONDS,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def import_job_run_task(job_id: int, batch: str = "") -> None:
    """Run the job; a redelivered message for a job that is running or finished does nothing."""
    from annotate.services.imports import import_job_run

    import_job_run(job_id=job_id, batch=batch)
