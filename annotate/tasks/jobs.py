"""The job reaper (scheduled by django-celery-beat; see CELERY_BEAT_SCHEDULE["reap-jobs"])."""

from __future__ import annotations

from dataclasses import asdict

from celery import shared_task


@shared_task(
    name="annotate.reap_jobs", queue="default", soft_time_limit=50, time_limit=60, ignore_result=True
)
def reap_jobs() -> dict[str, int]:
    """Requeue or fail jobs whose worker is gone, and send again the ones the broker never got."""
    from annotate.services.jobs import job_reap

    return asdict(job_reap())
