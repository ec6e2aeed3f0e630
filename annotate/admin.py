"""The Django admin, under the rules of ``annotate.access``.

Django's model permissions say which screens a staff user gets (view, add, change,
delete of each model). On top of them, rows of a project are listed only to those who may
read that project's data (``access.projects_readable_by``), and changed or deleted only
by those who administer it; a project itself is deleted only with ``delete_project``.
Superusers see and change everything.
"""

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from annotate import access
from annotate.forms import AdminImportUploadForm
from annotate.models import (
    Assignment,
    Comparison,
    ImportJob,
    JobStatus,
    Judgment,
    Membership,
    Project,
    Prompt,
    Response,
)
from annotate.services.gold import gold_mark
from annotate.services.imports import ImportRejected, import_job_create

# The filter offers only the projects of the rows one may see, not every project's name.
_PROJECT_FILTER = ("project", admin.RelatedOnlyFieldListFilter)
_PROJECT_FILTER_PROMPT = ("prompt__project", admin.RelatedOnlyFieldListFilter)
_PROJECT_FILTER_COMPARISON = ("comparison__project", admin.RelatedOnlyFieldListFilter)


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


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "slug",
        "overlap_target",
        "gold_rate",
        "lease_ttl_seconds",
        "is_active",
        "created_at",
    ]
    list_filter = ["is_active"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ("name",)}
    inlines = [MembershipInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Project]:
        rows = super().get_queryset(request)
        if access.reads_every_project(request.user):
            return rows
        return rows.filter(pk__in=access.projects_readable_by(request.user))

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_view_permission(request, obj)
        return allowed and (obj is None or access.allows(request.user, obj, access.Need.READ))

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or access.can_administer(request.user, obj))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Django's own rule: superusers and holders of annotate.delete_project.
        return super().has_delete_permission(request, obj)


@admin.register(Membership)
class MembershipAdmin(ProjectScopedAdmin):
    list_display = ["user", "project", "role", "created_at"]
    list_filter = ["role", _PROJECT_FILTER]
    search_fields = ["user__username", "project__name"]
    autocomplete_fields = ["user", "project"]


@admin.register(Prompt)
class PromptAdmin(ProjectScopedAdmin):
    list_display = ["id", "project", "preview", "created_at"]
    list_filter = [_PROJECT_FILTER]
    search_fields = ["content", "content_hash"]
    readonly_fields = ["content_hash"]


@admin.register(Response)
class ResponseAdmin(ProjectScopedAdmin):
    project_path = "prompt__project"
    list_display = ["id", "prompt", "source", "model_version", "created_at"]
    list_filter = ["source", _PROJECT_FILTER_PROMPT]
    search_fields = ["text", "model_version"]
    raw_id_fields = ["prompt"]
    readonly_fields = ["content_hash"]


# Characters of the prompt's last turn shown in the comparison list.
PROMPT_COLUMN_CHARS = 60


@admin.register(Comparison)
class ComparisonAdmin(ProjectScopedAdmin):
    list_display = [
        "id",
        "project",
        "prompt_column",
        "status",
        "priority",
        "is_gold",
        "vote_count",
        "slots_taken",
        "winner",
        "agreement",
    ]
    # One query for the page, not one per row for its project and prompt.
    list_select_related = ["project", "prompt"]
    list_filter = [_PROJECT_FILTER, "status", "is_gold", "winner", "batch"]
    search_fields = ["prompt__content", "response_a__text", "response_b__text"]
    raw_id_fields = ["prompt", "response_a", "response_b"]
    # Written only by judgment_submit, the lease services and aggregation, in the same
    # update that counts a vote: a hand edit would make them disagree with the judgments.
    readonly_fields = [
        "vote_count",
        "slots_taken",
        "votes_a",
        "votes_b",
        "votes_tie",
        "votes_both_bad",
        "winner",
        "agreement",
        "posterior",
    ]
    actions = ["mark_gold_a", "mark_gold_b"]

    @admin.display(description="prompt", ordering="prompt__id")
    def prompt_column(self, obj: Comparison) -> str:
        text = " ".join(obj.prompt.preview.split())
        return text if len(text) <= PROMPT_COLUMN_CHARS else text[: PROMPT_COLUMN_CHARS - 1] + "…"

    def _mark_gold(self, request: HttpRequest, queryset: QuerySet[Comparison], answer: str) -> None:
        result = gold_mark(
            user=request.user, comparison_ids=list(queryset.values_list("pk", flat=True)), answer=answer
        )
        self.message_user(
            request,
            f"Marked {result.marked} as gold with answer {answer.upper()}"
            + (f"; {result.unchanged} already were" if result.unchanged else "")
            + ".",
            messages.SUCCESS,
        )
        if result.refused:
            self.message_user(
                request,
                f"{result.refused} left unchanged: only admins of their project may mark gold items.",
                messages.ERROR,
            )

    @admin.action(description="Mark as gold with answer A", permissions=["change"])
    def mark_gold_a(self, request: HttpRequest, queryset: QuerySet[Comparison]) -> None:
        self._mark_gold(request, queryset, "a")

    @admin.action(description="Mark as gold with answer B", permissions=["change"])
    def mark_gold_b(self, request: HttpRequest, queryset: QuerySet[Comparison]) -> None:
        self._mark_gold(request, queryset, "b")


@admin.register(Assignment)
class AssignmentAdmin(ProjectScopedAdmin):
    list_display = ["id", "annotator", "comparison", "status", "flipped", "created_at", "expires_at"]
    list_filter = ["status", _PROJECT_FILTER, "flipped"]
    search_fields = ["annotator__username"]
    raw_id_fields = ["comparison", "annotator"]


@admin.register(Judgment)
class JudgmentAdmin(ProjectScopedAdmin):
    project_path = "comparison__project"
    list_display = [
        "id",
        "annotator",
        "comparison",
        "choice",
        "strength",
        "seconds_spent",
        "is_imported",
        "created_at",
    ]
    list_filter = ["choice", "strength", "is_imported", _PROJECT_FILTER_COMPARISON]
    search_fields = ["annotator__username", "rationale"]
    raw_id_fields = ["comparison", "annotator", "assignment"]


# What the job lifecycle (annotate/services/jobs.py) writes; shown, never edited.
JOB_LIFECYCLE_FIELDS = [
    "attempts", "max_attempts", "worker", "heartbeat_at", "sent_at", "retry_reason", "started_at", "finished_at",
]  # fmt: skip


@admin.register(ImportJob)
class ImportJobAdmin(ProjectScopedAdmin):
    list_display = [
        "id",
        "project",
        "kind",
        "format",
        "status",
        "attempts",
        "processed",
        "total",
        "created_by",
        "created_at",
    ]
    list_filter = ["status", "kind", "format", _PROJECT_FILTER]
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


# --- Snapshots and exports: read-only here, because snapshots are write-once. ---

from django.http import HttpRequest  # noqa: E402

from annotate.models import ExportJob, Snapshot  # noqa: E402


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
    list_filter = [_PROJECT_FILTER, "method"]
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
    list_display = [
        "id",
        "snapshot",
        "format",
        "schema",
        "status",
        "attempts",
        "processed",
        "total",
        "created_by",
        "created_at",
    ]
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
