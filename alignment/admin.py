"""The Django admin for alignment, under the rules of ``annotate.access`` (``ProjectScopedAdmin``).

Rounds and training runs are shown, never edited: the round's state machine and the job lifecycle
write them. A model version is immutable but for its status, which moves only through the version
services (one champion per kind; a rejected champion hands the title back to its parent). A plan is
saved through ``plan_update``, so its training configs are checked key by key here as on the page and
the API, and its cron field keeps its django-celery-beat task in step.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from alignment.models import AlignmentPlan, AlignmentRound, ModelVersion, TrainingRun, VersionStatus
from alignment.services.plans import PlanInvalid, plan_fields_check, plan_update
from alignment.services.rounds import RoundRefused, round_cancel, round_retry
from alignment.services.versions import VersionRefused, version_promote, version_reject, version_reject_check
from annotate import access
from annotate.admin.scoped import JOB_LIFECYCLE_FIELDS, PROJECT_FILTER, ProjectScopedAdmin


class AlignmentPlanForm(forms.ModelForm):
    class Meta:
        model = AlignmentPlan
        # Every setting; the beat task and the update time are the plan's own doing.
        fields = [f.name for f in AlignmentPlan._meta.concrete_fields if f.editable and not f.primary_key]

    def clean(self) -> dict[str, Any]:
        super().clean()
        try:  # the checks plan_update makes, so that a bad key is a field error on this form
            checked, _ = plan_fields_check(plan=self.instance, fields=self.cleaned_data)
        except PlanInvalid as exc:
            self.add_error(exc.field if exc.field in self.fields else None, str(exc))
            return self.cleaned_data
        self.cleaned_data.update(checked)
        return self.cleaned_data


@admin.register(AlignmentPlan)
class AlignmentPlanAdmin(ProjectScopedAdmin):
    form = AlignmentPlanForm
    list_display = [
        "project",
        "enabled",
        "algorithm",
        "min_new_pairs",
        "cooldown_minutes",
        "schedule",
        "updated_at",
    ]
    list_filter = ["enabled", "algorithm", PROJECT_FILTER]
    readonly_fields = ["periodic_task", "updated_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # A plan belongs to its project for good; the rounds it started froze it.
        return [*self.readonly_fields, "project"] if obj is not None else list(self.readonly_fields)

    def save_model(
        self, request: HttpRequest, obj: AlignmentPlan, form: forms.ModelForm, change: bool
    ) -> None:
        if not change:
            super().save_model(request, obj, form, change)
        changed = {name: form.cleaned_data[name] for name in form.changed_data if name != "project"}
        try:
            plan_update(plan=obj, **changed)
        except PlanInvalid as exc:  # the form checked the same; a value the model refuses on save ends here
            self.message_user(request, str(exc), messages.ERROR)


class ModelVersionForm(forms.ModelForm):
    # Here a version is made champion or rejected; archiving is what the next champion does to the last.
    status = forms.ChoiceField(choices=VersionStatus.choices)

    class Meta:
        model = ModelVersion
        fields = ["status", "status_reason"]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        status = data.get("status")
        if "status" not in self.changed_data:
            return data
        if status not in (VersionStatus.CHAMPION, VersionStatus.REJECTED):
            self.add_error(
                "status", "A version is made champion or rejected here; the next champion archives it."
            )
        elif status == VersionStatus.REJECTED:
            try:  # clean() runs before the form sets the new status on the instance
                version_reject_check(version=self.instance, reason=data.get("status_reason") or "")
            except VersionRefused as exc:
                self.add_error("status_reason" if exc.field == "reason" else "status", str(exc))
        return data


@admin.register(ModelVersion)
class ModelVersionAdmin(ProjectScopedAdmin):
    form = ModelVersionForm
    list_display = ["id", "project", "kind", "number", "status", "status_reason", "round", "created_at"]
    list_filter = ["kind", "status", PROJECT_FILTER]
    list_select_related = ["project", "round__project"]  # a round's name names its project
    search_fields = ["path", "status_reason"]
    readonly_fields = [
        "project", "kind", "number", "path", "parent", "round", "snapshot", "reward_model", "reference", "config",
        "seed", "libraries", "metrics", "status_changed_at", "created_at",
    ]  # fmt: skip

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a round registers its versions; v0 is the plan's base policy

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # later rounds, responses and exports cite it

    def save_model(
        self, request: HttpRequest, obj: ModelVersion, form: forms.ModelForm, change: bool
    ) -> None:
        reason = form.cleaned_data["status_reason"]
        try:
            if "status" not in form.changed_data:
                obj.save(update_fields=["status_reason"])
            elif obj.status == VersionStatus.CHAMPION:
                version_promote(version=obj, reason=reason or "promoted in the admin")
            else:
                version_reject(version=obj, reason=reason)
        except VersionRefused as exc:  # the champion changed since the form was opened
            self.message_user(request, str(exc), messages.ERROR)


class _ReadOnlyAdmin(ProjectScopedAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class TrainingRunInline(admin.TabularInline):
    model = TrainingRun
    extra = 0
    can_delete = False
    fields = readonly_fields = (
        "step",
        "status",
        "attempts",
        "processed",
        "total",
        "heartbeat_at",
        "error_message",
    )
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AlignmentRound)
class AlignmentRoundAdmin(_ReadOnlyAdmin):
    list_display = ["id", "project", "number", "state", "trigger", "failed_step", "created_at", "finished_at"]
    list_filter = ["state", "trigger", PROJECT_FILTER]
    list_select_related = ["project"]
    readonly_fields = [
        "project", "number", "state", "trigger", "started_by", "plan", "agreed_pairs_at_start", "snapshot",
        "start_policy", "reward_version", "policy_version", "metrics", "failed_step", "error", "created_at",
        "step_started_at", "finished_at",
    ]  # fmt: skip
    inlines = [TrainingRunInline]
    actions = ["cancel_rounds", "retry_rounds"]

    def has_administer_permission(self, request: HttpRequest) -> bool:
        return access.projects_administered_by(request.user).exists()

    def _act(self, request: HttpRequest, queryset: QuerySet[AlignmentRound], act: Any, verb: str) -> None:
        done, refused = 0, []
        # Which projects the user administers, asked once for the whole selection.
        every = request.user.is_active and access.administers_every_project(request.user)
        administered = (
            set()
            if every
            else set(access.projects_administered_by(request.user).values_list("pk", flat=True))
        )
        for round_ in queryset.select_related("project"):
            if not (every or round_.project_id in administered):
                refused.append(f"{round_}: only admins of its project may do this")
                continue
            try:
                act(round_=round_)
                done += 1
            except RoundRefused as exc:
                refused.append(str(exc))
        self.message_user(request, f"{verb} {done} round(s).", messages.SUCCESS)
        for reason in refused:
            self.message_user(request, reason, messages.ERROR)

    @admin.action(description="Cancel the selected rounds", permissions=["administer"])
    def cancel_rounds(self, request: HttpRequest, queryset: QuerySet[AlignmentRound]) -> None:
        self._act(request, queryset, round_cancel, "Cancelled")

    @admin.action(
        description="Retry the selected failed rounds from their failed step", permissions=["administer"]
    )
    def retry_rounds(self, request: HttpRequest, queryset: QuerySet[AlignmentRound]) -> None:
        self._act(request, queryset, round_retry, "Retried")


@admin.register(TrainingRun)
class TrainingRunAdmin(_ReadOnlyAdmin):
    project_path = "round__project"
    list_display = ["id", "round", "step", "status", "attempts", "processed", "total", "heartbeat_at"]
    list_filter = ["step", "status", ("round__project", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["round__project"]
    readonly_fields = [
        "round", "step", "config", "result", "last_event", "out_dir", "status", "total", "processed",
        "error_message", "created_at", *JOB_LIFECYCLE_FIELDS,
    ]  # fmt: skip
