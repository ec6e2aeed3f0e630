from django.contrib import admin

from annotate.models import Assignment, Comparison, ImportJob, Judgment, Membership, Project, Prompt, Response


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "overlap_target", "gold_rate", "lease_ttl_seconds", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ("name",)}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role", "created_at"]
    list_filter = ["role", "project"]
    search_fields = ["user__username", "project__name"]
    autocomplete_fields = ["user", "project"]


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "preview", "created_at"]
    list_filter = ["project"]
    search_fields = ["content", "content_hash"]
    readonly_fields = ["content_hash"]


@admin.register(Response)
class ResponseAdmin(admin.ModelAdmin):
    list_display = ["id", "prompt", "source", "model_version", "created_at"]
    list_filter = ["source", "prompt__project"]
    search_fields = ["text", "model_version"]
    raw_id_fields = ["prompt"]
    readonly_fields = ["content_hash"]


@admin.register(Comparison)
class ComparisonAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "status", "priority", "is_gold", "vote_count", "slots_taken", "winner", "agreement"]
    list_filter = ["project", "status", "is_gold", "winner", "batch"]
    search_fields = ["prompt__content", "response_a__text", "response_b__text"]
    raw_id_fields = ["prompt", "response_a", "response_b"]


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["id", "annotator", "comparison", "status", "flipped", "created_at", "expires_at"]
    list_filter = ["status", "project", "flipped"]
    search_fields = ["annotator__username"]
    raw_id_fields = ["comparison", "annotator"]


@admin.register(Judgment)
class JudgmentAdmin(admin.ModelAdmin):
    list_display = ["id", "annotator", "comparison", "choice", "strength", "seconds_spent", "is_imported", "created_at"]
    list_filter = ["choice", "strength", "is_imported", "comparison__project"]
    search_fields = ["annotator__username", "rationale"]
    raw_id_fields = ["comparison", "annotator", "assignment"]


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "kind", "format", "status", "processed", "total", "created_by", "created_at"]
    list_filter = ["status", "kind", "format", "project"]
    search_fields = ["original_name"]
    readonly_fields = ["status", "total", "processed", "counts", "errors", "error_message", "started_at", "finished_at"]
