"""The import jobs admin, with its upload page (a job is made by uploading a file, never by hand)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from annotate import access
from annotate.admin.scoped import JOB_LIFECYCLE_FIELDS, JOB_LIST_COLUMNS, PROJECT_FILTER, ProjectScopedAdmin
from annotate.forms import AdminImportUploadForm
from annotate.models import ImportJob, JobStatus
from annotate.services.imports import ImportRejected, import_job_create


@admin.register(ImportJob)
class ImportJobAdmin(ProjectScopedAdmin):
    list_display = ["id", "project", "kind", "format", *JOB_LIST_COLUMNS]
    list_filter = ["status", "kind", "format", PROJECT_FILTER]
    search_fields = ["original_name"]
    readonly_fields = [
        "status",
        "total",
        "processed",
        "counts",
        "errors",
        "error_message",
        *JOB_LIFECYCLE_FIELDS,
    ]
    change_list_template = "admin/annotate/importjob/change_list.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A job is made by uploading a file (the "Upload" view below), never by hand.
        return False

    def get_urls(self) -> list[URLPattern]:
        upload = path(
            "upload/", self.admin_site.admin_view(self.upload_view), name="annotate_importjob_upload"
        )
        return [upload, *super().get_urls()]

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        """Upload a file for a project the user administers; runs it or queues it (import_job_create)."""
        if not access.projects_administered_by(request.user).exists():
            raise PermissionDenied("Only project admins may import.")
        form = AdminImportUploadForm(request.POST or None, request.FILES or None, user=request.user)
        job = None
        problems: list[dict[str, Any]] = []
        if request.method == "POST" and form.is_valid():
            project = form.cleaned_data["project"]
            if not access.can_administer(request.user, project):
                raise PermissionDenied("Only project admins may import.")
            try:
                job = import_job_create(project=project, created_by=request.user, **form.job_arguments())
            except ImportRejected as exc:
                problems = [p.as_dict() for p in exc.problems]
                self.message_user(request, exc.message, messages.ERROR)
            else:
                problems = job.errors
                failed = job.status == JobStatus.FAILED
                self.message_user(
                    request,
                    f"Import {job.pk}: {job.get_status_display()}. {job.error_message}".strip(),
                    messages.ERROR if failed else messages.SUCCESS,
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Upload an import file",
            "form": form,
            "job": job,
            "problems": problems,
        }
        return TemplateResponse(
            request, "admin/annotate/importjob/upload.html", context, status=400 if problems else 200
        )
