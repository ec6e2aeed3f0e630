"""The alignment plan: created with defaults, updated with its training configs checked key by key."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from alignment.models import AlignmentPlan, PolicyAlgorithm
from alignment.training.config import ConfigError, load_config
from annotate.aggregation.selection import SnapshotFilters
from annotate.models import Project
from annotate.options import OptionInvalid

# Keys the plan fills in for every round; a config that sets them would be silently overridden.
PLAN_KEYS = frozenset(
    {"strategy", "model_name", "dataset", "reward_model", "reference_model", "baseline_model", "seed"}
)
CONFIG_STEPS = {"reward_config": "reward", "generate_config": "generate"}


class PlanInvalid(ValueError):
    """A plan value that cannot be used: ``field`` names the plan field, ``key`` the config key inside it."""

    def __init__(self, field: str, message: str, key: str = "") -> None:
        super().__init__(message)
        self.field = field
        self.key = key

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "key": self.key, "message": str(self)}


def plan_get_or_create(*, project: Project) -> AlignmentPlan:
    """The project's plan; a new one has the defaults (the built-in tiny models, PPO) and is disabled."""
    plan, _ = AlignmentPlan.objects.get_or_create(project=project)
    return plan


def plan_config_check(*, field: str, strategy: str, raw: Any) -> dict[str, Any]:
    """``raw`` as the plan stores it, after ``load_config`` accepted it with the plan's own keys filled in."""
    if not isinstance(raw, dict):
        raise PlanInvalid(field, f"{field} must be a JSON object, got {type(raw).__name__}")
    for key in raw:
        if key in PLAN_KEYS:
            raise PlanInvalid(
                field, f"'{key}' is set by the plan for each round; leave it out of {field}", key
            )
    try:
        load_config({**raw, "strategy": strategy})
    except ConfigError as exc:
        raise PlanInvalid(field, f"{field}: {exc}", exc.key) from exc
    return dict(raw)


def plan_filters_check(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise PlanInvalid("snapshot_filters", "snapshot_filters must be a JSON object")
    unknown = sorted(set(raw) - set(SnapshotFilters.__dataclass_fields__))
    if unknown:
        raise PlanInvalid("snapshot_filters", f"unknown snapshot filter '{unknown[0]}'", unknown[0])
    try:
        return SnapshotFilters.from_dict(raw).as_dict()
    except OptionInvalid as exc:
        raise PlanInvalid("snapshot_filters", f"snapshot_filters: {exc}", exc.option) from exc


@dataclass(frozen=True)
class CronFields:
    minute: str
    hour: str
    day_of_month: str
    month_of_year: str
    day_of_week: str


def plan_schedule_check(raw: str) -> CronFields | None:
    text = " ".join(raw.split())
    if not text:
        return None
    parts = text.split(" ")
    if len(parts) != 5:
        raise PlanInvalid(
            "schedule", f"a cron schedule has 5 fields (minute hour day month weekday), got {len(parts)}"
        )
    from celery.schedules import crontab
    from django_celery_beat.models import CrontabSchedule

    cron = CronFields(*parts)
    for name, value in vars(cron).items():
        limit = CrontabSchedule._meta.get_field(name).max_length
        if limit is not None and len(value) > limit:
            raise PlanInvalid("schedule", f"schedule: the {name} field is over {limit} characters")
    try:
        crontab(*parts)  # celery parses each field and names the bad one
    except Exception as exc:  # ValueError, or celery's own ParseException (not a ValueError)
        raise PlanInvalid("schedule", f"schedule: {exc or type(exc).__name__}") from exc
    return cron


def plan_fields_check(
    *, plan: AlignmentPlan, fields: dict[str, Any]
) -> tuple[dict[str, Any], CronFields | None]:
    """``fields`` as the plan stores them (configs, filters, schedule checked), and the parsed schedule.

    The policy config is checked again when only the algorithm changes: it must suit the new one.
    Raises ``PlanInvalid`` naming the first bad field (and key)."""
    algorithm = fields.get("algorithm", plan.algorithm)
    if algorithm not in PolicyAlgorithm.values:
        raise PlanInvalid("algorithm", f"algorithm must be one of {', '.join(PolicyAlgorithm.values)}")
    checked: dict[str, Any] = dict(fields)
    for field, strategy in {**CONFIG_STEPS, "policy_config": algorithm}.items():
        if field in fields or (field == "policy_config" and "algorithm" in fields):
            checked[field] = plan_config_check(
                field=field, strategy=strategy, raw=fields.get(field, getattr(plan, field))
            )
    if "snapshot_filters" in fields:
        checked["snapshot_filters"] = plan_filters_check(fields["snapshot_filters"])
    cron = plan_schedule_check(fields["schedule"]) if "schedule" in fields else None
    return checked, cron


def plan_update(*, plan: AlignmentPlan, **fields: Any) -> AlignmentPlan:
    """Apply the given fields after checking every config; nothing is saved when one is bad."""
    checked, cron = plan_fields_check(plan=plan, fields=fields)
    for name, value in checked.items():
        setattr(plan, name, value)
    try:
        plan.full_clean(exclude=["project", "periodic_task"])
    except Exception as exc:  # django ValidationError: name the first bad field
        errors = getattr(exc, "message_dict", {"plan": [str(exc)]})
        field = next(iter(errors))
        raise PlanInvalid(field, f"{field}: {' '.join(errors[field])}") from exc
    with transaction.atomic():
        plan.save()
        if "schedule" in fields:
            _schedule_sync(plan, cron)
        elif "enabled" in fields and plan.periodic_task_id is not None:
            _schedule_sync(plan, plan_schedule_check(plan.schedule))  # beat skips a paused plan's task
    return plan


def _schedule_sync(plan: AlignmentPlan, cron: CronFields | None) -> None:
    """Keep the plan's django-celery-beat task in step with its cron field (admins may also edit it there)."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    if cron is None:
        if plan.periodic_task_id is not None:
            PeriodicTask.objects.filter(pk=plan.periodic_task_id).delete()
            plan.periodic_task = None
            plan.save(update_fields=["periodic_task"])
        return
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute=cron.minute, hour=cron.hour, day_of_month=cron.day_of_month,
        month_of_year=cron.month_of_year, day_of_week=cron.day_of_week,
    )  # fmt: skip
    # The plan's own task, found by its key: a name (unique) follows the slug, which can change.
    task = PeriodicTask.objects.filter(pk=plan.periodic_task_id).first() if plan.periodic_task_id else None
    task = task or PeriodicTask(name=f"alignment round: plan {plan.pk}")
    task.task, task.crontab, task.interval = "alignment.round_start_scheduled", schedule, None
    task.args, task.enabled = json.dumps([plan.pk]), plan.enabled
    task.save()  # save(), not update(): django-celery-beat tells beat of the change on save
    if plan.periodic_task_id != task.pk:
        plan.periodic_task = task
        plan.save(update_fields=["periodic_task"])


def plan_schedule_remove(*, plan: AlignmentPlan) -> None:
    """Remove the plan's beat task with the plan (a project's deletion takes its plan along)."""
    from django_celery_beat.models import PeriodicTask

    if plan.periodic_task_id is not None:
        PeriodicTask.objects.filter(pk=plan.periodic_task_id).delete()
