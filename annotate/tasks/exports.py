"""Export tasks: take an ExportJob id, call the export service."""

from __future__ import annotations

from annotate.tasks.jobs import job_run_task


@job_run_task(name="annotate.export_job_run")
def export_job_run_task(job_id: int) -> str:
    """Run the job; a message for a job that is finished, or running under a live worker, does nothing."""
    from annotate.services.exports import export_job_run

    job = export_job_run(job_id=job_id)
    return job.status if job is not None else "skipped"
