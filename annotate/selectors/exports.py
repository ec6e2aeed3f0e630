"""Reads of a project's export jobs."""

from __future__ import annotations

from django.db.models import QuerySet

from annotate.models import (
    ExportJob,
    Project,
)


def export_job_list(*, project: Project) -> QuerySet[ExportJob]:
    """A project's export jobs, newest first."""
    return (
        ExportJob.objects.filter(snapshot__project=project).select_related("snapshot").order_by("-created_at")
    )


def export_job_get(*, project: Project, job_id: int) -> ExportJob | None:
    """The project's export job with this id, if any."""
    return export_job_list(project=project).filter(pk=job_id).first()
