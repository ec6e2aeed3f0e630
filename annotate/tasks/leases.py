"""Periodic sweep of expired leases (scheduled by django-celery-beat; see CELERY_BEAT_SCHEDULE)."""

from celery import shared_task


@shared_task(name="annotate.reclaim_expired_leases", queue="default", soft_time_limit=50, time_limit=60, ignore_result=True)
def reclaim_expired_leases() -> int:
    from annotate.services.assignment import assignment_reclaim_expired

    return assignment_reclaim_expired()
