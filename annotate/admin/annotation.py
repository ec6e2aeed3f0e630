"""Admins of projects, members, prompts, responses, comparisons, leases and judgments."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from annotate import access
from annotate.admin.scoped import (
    PROJECT_FILTER,
    PROJECT_FILTER_COMPARISON,
    PROJECT_FILTER_PROMPT,
    ProjectScopedAdmin,
)
from annotate.models import Assignment, Comparison, Judgment, Membership, Project, Prompt, Response
from annotate.services.gold import gold_mark


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
    list_filter = ["role", PROJECT_FILTER]
    search_fields = ["user__username", "project__name"]
    autocomplete_fields = ["user", "project"]


@admin.register(Prompt)
class PromptAdmin(ProjectScopedAdmin):
    list_display = ["id", "project", "preview", "created_at"]
    list_filter = [PROJECT_FILTER]
    search_fields = ["content", "content_hash"]
    readonly_fields = ["content_hash"]


@admin.register(Response)
class ResponseAdmin(ProjectScopedAdmin):
    project_path = "prompt__project"
    list_display = ["id", "prompt", "source", "model_version", "created_at"]
    list_filter = ["source", PROJECT_FILTER_PROMPT]
    search_fields = ["text"]
    raw_id_fields = ["prompt"]
    readonly_fields = ["content_hash", "model_version"]  # the sampling version is history, not an edit


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
    list_filter = [PROJECT_FILTER, "status", "is_gold", "winner", "batch"]
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
    list_filter = ["status", PROJECT_FILTER, "flipped"]
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
    list_filter = ["choice", "strength", "is_imported", PROJECT_FILTER_COMPARISON]
    search_fields = ["annotator__username", "rationale"]
    raw_id_fields = ["comparison", "annotator", "assignment"]
