"""System checks run at start-up (``manage.py check``, runserver, the worker): job timing that cannot work.

A job must never be delivered twice while it is still alive, and a live job must never
look dead. With Redis as the broker that means, for every task that acknowledges late:

    soft time limit < hard time limit < the broker's visibility_timeout

(Redis hands an unacknowledged message to another worker once visibility_timeout has
passed, alive or not), and a heartbeat staleness of at least two heartbeat intervals, so
one late heartbeat is not taken for a dead worker.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

# Transports that redeliver an unacknowledged message after a visibility timeout.
_VISIBILITY_SCHEMES = ("redis", "rediss", "sentinel", "sqs")


def _tasks() -> list[Any]:
    from config.celery import app

    # Every app's tasks module, as the worker's autodiscovery imports them. Not through
    # app.loader.import_default_modules(): its signal makes Celery's Django fixup run the
    # system checks, this one among them.
    for config in apps.get_app_configs():
        name = f"{config.name}.tasks"
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)
    return [task for name, task in sorted(app.tasks.items()) if not name.startswith("celery.")]


@register("concord")
def job_timing_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Errors for time limits, heartbeat staleness and visibility timeout in an order that redelivers live jobs."""
    errors: list[CheckMessage] = []
    heartbeat = settings.CONCORD_JOB_HEARTBEAT_SECONDS
    stale = settings.CONCORD_JOB_STALE_SECONDS
    if heartbeat <= 0 or stale < 2 * heartbeat:
        errors.append(
            Error(
                f"CONCORD_JOB_STALE_SECONDS={stale} must be at least twice CONCORD_JOB_HEARTBEAT_SECONDS={heartbeat} "
                "(and the interval positive): a live worker's job would be taken for lost",
                id="annotate.E101",
            )
        )
    broker = str(settings.CELERY_BROKER_URL)
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {}
    visibility = options.get("visibility_timeout") if broker.split(":", 1)[0] in _VISIBILITY_SCHEMES else None
    if broker.split(":", 1)[0] in _VISIBILITY_SCHEMES and visibility is None:
        errors.append(
            Error(
                "CELERY_BROKER_TRANSPORT_OPTIONS has no visibility_timeout for this broker; set it above "
                "every task's hard time limit (kombu's default, one hour, is below the job limit)",
                id="annotate.E102",
            )
        )
    acks_late_default = getattr(settings, "CELERY_TASK_ACKS_LATE", False)
    for task in _tasks():
        hard = (
            task.time_limit
            if task.time_limit is not None
            else getattr(settings, "CELERY_TASK_TIME_LIMIT", None)
        )
        soft = (
            task.soft_time_limit
            if task.soft_time_limit is not None
            else getattr(settings, "CELERY_TASK_SOFT_TIME_LIMIT", None)
        )
        acks_late = task.acks_late if task.acks_late is not None else acks_late_default
        if soft is not None and hard is not None and soft >= hard:
            errors.append(
                Error(
                    f"task {task.name}: soft_time_limit={soft} must be below time_limit={hard}",
                    id="annotate.E105",
                )
            )
        if visibility is None or not acks_late:
            continue
        if hard is None:
            errors.append(
                Error(
                    f"task {task.name} acknowledges late but has no time_limit: it could outlive the broker's "
                    f"visibility_timeout={visibility} and be delivered again while still running",
                    id="annotate.E104",
                )
            )
        elif hard >= visibility:
            errors.append(
                Error(
                    f"task {task.name}: time_limit={hard} must be below the broker's visibility_timeout={visibility} "
                    "(CELERY_BROKER_TRANSPORT_OPTIONS), or a live job is delivered a second time",
                    id="annotate.E103",
                )
            )
    schedule = getattr(settings, "CELERY_BEAT_SCHEDULE", {}) or {}
    if not any(entry.get("task") == "annotate.reap_jobs" for entry in schedule.values()):
        errors.append(
            Warning(
                "CELERY_BEAT_SCHEDULE has no annotate.reap_jobs entry: jobs of a lost worker, or sent while the "
                "broker was down, are never run again",
                id="annotate.W106",
            )
        )
    return errors
