"""Snapshots and exports: read-only here, because snapshots are write-once."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from annotate.admin.scoped import JOB_LIFECYCLE_FIELDS, JOB_LIST_COLUMNS, PROJECT_FILTER, ProjectScopedAdmin
from annotate.models import ExportJob, Snapshot


@admin.register(Snapshot)
class SnapshotAdmin(ProjectScopedAdmin):
    list_display = [
        "id",
        "project",
        "version",
        "method",
        "pair_count",
        "content_hash",
        "created_by",
        "created_at",
    ]
    list_filter = [PROJECT_FILTER, "method"]
    readonly_fields = [
        "project",
        "version",
        "method",
        "filters",
        "counts",
        "pair_count",
        "content_hash",
        "decontamination",
        "created_by",
        "created_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Snapshot | None = None) -> bool:
        return False


@admin.register(ExportJob)
class ExportJobAdmin(ProjectScopedAdmin):
    project_path = "snapshot__project"
    list_display = ["id", "snapshot", "format", "schema", *JOB_LIST_COLUMNS]
    list_filter = ["status", "format", "schema"]
    readonly_fields = [
        "snapshot",
        "format",
        "schema",
        "status",
        "total",
        "processed",
        "path",
        "error_message",
        "created_by",
        "created_at",
        *JOB_LIFECYCLE_FIELDS,
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
