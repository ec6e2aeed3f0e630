"""Export tasks: take an ExportJob id, call the export service."""

from __future__ import annotations

from celery import shared_task


@shared_task(
    name="annotate.export_job_run",
    queue="default",
    soft_time_limit=3 * 3600,
    time_limit=3 * 3600 + 300,
    acks_late=True,
    reject_on_worker_lost=True,
)
def export_job_run_task(job_id: int) -> str:
    from annotate.services.exports import export_job_run

    job = export_job_run(job_id=job_id)
    return job.status if job is not None else "skipped"
