"""What every job's task shares (``job_run_task``), and the job reaper (scheduled by django-celery-beat; see
CELERY_BEAT_SCHEDULE["reap-jobs"])."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from celery import shared_task
from django.conf import settings


def job_run_task(*, name: str) -> Callable[[Callable[..., Any]], Any]:
    """The task decorator of a job kind (``services.jobs.JobKind``): one lifecycle, so one set of limits.

    The soft limit lets the service mark the job FAILED; the hard one ends a stuck worker.
    Both stay below the broker's visibility timeout (annotate/checks.py). A lost worker's
    message goes back to the queue (``acks_late``, ``reject_on_worker_lost``); the job row,
    not a result backend, holds the outcome.
    """
    return shared_task(
        name=name,
        queue="default",
        soft_time_limit=settings.CONCORD_JOB_TIME_LIMIT_SECONDS - 60,
        time_limit=settings.CONCORD_JOB_TIME_LIMIT_SECONDS,
        acks_late=True,
        reject_on_worker_lost=True,
        ignore_result=True,
    )


@shared_task(
    name="annotate.reap_jobs", queue="default", soft_time_limit=50, time_limit=60, ignore_result=True
)
def reap_jobs() -> dict[str, int]:
    """Requeue or fail jobs whose worker is gone, and send again the ones the broker never got."""
    from annotate.services.jobs import job_reap

    return asdict(job_reap())
