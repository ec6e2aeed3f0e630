"""Housekeeping on a schedule: uploads of finished imports (annotate.services.import_files.import_files_clean)."""

from __future__ import annotations

from celery import shared_task


@shared_task(
    name="annotate.import_files_clean",
    queue="default",
    soft_time_limit=10 * 60,
    time_limit=11 * 60,
    ignore_result=True,
)
def import_files_clean_task() -> int:
    """Delete uploads past their retention; run again, it finds nothing more to do."""
    from annotate.services.import_files import import_files_clean

    return import_files_clean()
