"""The import worker: runs a stored ImportJob (annotate.services.imports.import_job_run)."""

from __future__ import annotations

from annotate.tasks.jobs import job_run_task


@job_run_task(name="annotate.import_job_run")
def import_job_run_task(job_id: int, batch: str | None = None) -> None:
    """Run the job; a message for a job that is finished, or running under a live worker, does nothing.

    ``batch`` is read only from messages sent before the job row stored it.
    """
    from annotate.services.imports import import_job_run

    import_job_run(job_id=job_id, batch=batch)
