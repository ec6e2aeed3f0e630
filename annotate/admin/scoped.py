"""What every project-scoped admin shares: rows listed to readers of their project, changed by its admins."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from annotate import access
from annotate.models import Project

# The filter offers only the projects of the rows one may see, not every project's name.
PROJECT_FILTER = ("project", admin.RelatedOnlyFieldListFilter)
PROJECT_FILTER_PROMPT = ("prompt__project", admin.RelatedOnlyFieldListFilter)
PROJECT_FILTER_COMPARISON = ("comparison__project", admin.RelatedOnlyFieldListFilter)


def _project_of(obj: Model, path: str) -> Project:
    for step in path.split("__"):
        obj = getattr(obj, step)
    return obj  # type: ignore[return-value]


class ProjectScopedAdmin(admin.ModelAdmin):
    """Rows of a project: listed to its readers, changed and deleted by its administrators."""

    project_path = "project"  # the lookup from this model to its Project

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        rows = super().get_queryset(request)
        if access.reads_every_project(request.user):
            return rows
        return rows.filter(**{f"{self.project_path}__in": access.projects_readable_by(request.user)})

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_view_permission(request, obj)
        return allowed and (
            obj is None or access.allows(request.user, _project_of(obj, self.project_path), access.Need.READ)
        )

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_change_permission(request, obj)
        return allowed and (
            obj is None or access.can_administer(request.user, _project_of(obj, self.project_path))
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_delete_permission(request, obj)
        return allowed and (
            obj is None or access.can_administer(request.user, _project_of(obj, self.project_path))
        )

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        # "Delete selected" acts on the listed rows, which readers see too: only administered ones go.
        if not access.administers_every_project(request.user):
            queryset = queryset.filter(
                **{f"{self.project_path}__in": access.projects_administered_by(request.user)}
            )
        super().delete_queryset(request, queryset)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "project":
            # New rows go only into projects the user administers.
            kwargs["queryset"] = access.projects_administered_by(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


# What the job lifecycle (annotate/services/jobs.py) writes; shown, never edited.
JOB_LIFECYCLE_FIELDS = [
    "attempts", "max_attempts", "worker", "heartbeat_at", "sent_at", "retry_reason", "started_at", "finished_at",
]  # fmt: skip
# What every job's list shows after the columns of its kind (annotate/models/jobs.py: Job).
JOB_LIST_COLUMNS = ["status", "attempts", "processed", "total", "created_by", "created_at"]
