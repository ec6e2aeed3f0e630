"""Upload retention: the files of finished imports, and uploads no job names, deleted once old.

A job whose file went keeps its row, counts and problems, with an empty ``file``; a queued
or running job's file is never deleted (``annotate.tasks.cleanup`` runs this hourly).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from annotate.models import ImportJob, JobStatus

# Statuses after which nothing reads a job's file again. Whatever else a job may be (queued,
# running, waiting to be retried) keeps its file.
_FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED)
IMPORTS_DIR = "imports"


def import_files_clean(*, now: datetime | None = None) -> int:
    """Delete the uploads of imports that finished over CONCORD_IMPORT_FILE_RETENTION_HOURS ago, and
    files under ``MEDIA_ROOT/imports/`` as old that no job names; never a queued or running job's file.

    Returns how many files were deleted. A job whose file went keeps its row, counts and
    problems, with an empty ``file``.
    """
    cutoff = (now or timezone.now()) - timedelta(hours=settings.CONCORD_IMPORT_FILE_RETENTION_HOURS)
    storage = ImportJob._meta.get_field("file").storage
    deleted = 0
    old = (
        ImportJob.objects.filter(status__in=_FINISHED)
        .exclude(file="")
        .filter(Q(finished_at__lt=cutoff) | Q(finished_at__isnull=True, created_at__lt=cutoff))
    )
    for pk, name in old.values_list("pk", "file").iterator():
        # The row lets go of the file first, and only if it is still finished: a job sent back to
        # the queue meanwhile keeps it. Names are unique in the storage, so no other job has it.
        if ImportJob.objects.filter(pk=pk, status__in=_FINISHED, file=name).update(file="") != 1:
            continue
        if storage.exists(name):
            storage.delete(name)
            deleted += 1
    return deleted + _orphans_clean(storage, cutoff)


def _orphans_clean(storage: Any, cutoff: datetime) -> int:
    """Files under imports/ older than ``cutoff`` that no job names (an upload whose row was never saved)."""
    try:
        root = Path(storage.path(IMPORTS_DIR))
        base = Path(storage.path(""))
    except NotImplementedError:
        return 0  # a remote storage: only the files that rows name are cleaned
    if not root.is_dir():
        return 0
    deleted = 0
    limit = cutoff.timestamp()
    for path in sorted(root.rglob("*"), reverse=True):  # files before the folders that hold them
        if path.is_dir():
            if path != root and not any(path.iterdir()):
                path.rmdir()
            continue
        if path.stat().st_mtime >= limit:
            continue
        name = path.relative_to(base).as_posix()
        if not ImportJob.objects.filter(file=name).exists():
            path.unlink(missing_ok=True)
            deleted += 1
    return deleted
