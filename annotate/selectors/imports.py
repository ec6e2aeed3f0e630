"""Reads of a project's import jobs."""

from __future__ import annotations

from django.db.models import QuerySet

from annotate.models import ImportJob, Project


def import_job_list(*, project: Project) -> QuerySet[ImportJob]:
    """A project's imports, newest first."""
    return ImportJob.objects.filter(project=project).order_by("-created_at")
