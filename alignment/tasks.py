"""Round tasks: one per step, each taking the round id and calling ``round_step_run`` (alignment/services/rounds.py).

Training, evaluation and generation go to the ``training`` queue (GPU workers may serve it alone);
the snapshot, the vote check and the beat tick to ``default``. Every step task is ``acks_late`` with
``reject_on_worker_lost``: a worker killed mid-step leaves the message to be delivered again, and
the step's run (under the job lifecycle) is reclaimed then or by the reaper. The vote check, the tick
and the cron start are short and sent again by the next tick (or cron) anyway: acked on receipt.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from typing import Any

from celery import Task, shared_task
from celery.signals import celeryd_after_setup
from django.conf import settings

from alignment.models import RoundState

logger = logging.getLogger(__name__)

_LONG: dict[str, Any] = {
    # The soft limit fails the round with a message; the hard one ends a stuck worker. Both stay below
    # the broker's visibility timeout (annotate/checks.py).
    "soft_time_limit": settings.CONCORD_JOB_TIME_LIMIT_SECONDS - 60,
    "time_limit": settings.CONCORD_JOB_TIME_LIMIT_SECONDS,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "ignore_result": True,
}


def _run(round_id: int, state: str) -> str:
    from alignment.services.rounds import round_step_run

    return round_step_run(round_id=round_id, state=state)


@shared_task(name="alignment.round_snapshot", queue="default", **_LONG)
def round_snapshot(round_id: int) -> str:
    """Step 1: the snapshot of every agreed pair so far."""
    return _run(round_id, RoundState.SNAPSHOTTING)


@shared_task(name="alignment.round_reward", queue="training", **_LONG)
def round_reward(round_id: int) -> str:
    """Step 2: the round's reward model."""
    return _run(round_id, RoundState.TRAINING_REWARD)


@shared_task(name="alignment.round_policy", queue="training", **_LONG)
def round_policy(round_id: int) -> str:
    """Step 3: the new policy (PPO, DPO or RLOO)."""
    return _run(round_id, RoundState.TRAINING_POLICY)


@shared_task(name="alignment.round_evaluate", queue="training", **_LONG)
def round_evaluate(round_id: int) -> str:
    """Steps 4 and 5: evaluation on held-out prompts, then the new version and the promotion gate."""
    return _run(round_id, RoundState.EVALUATING)


@shared_task(name="alignment.round_generate", queue="training", **_LONG)
def round_generate(round_id: int) -> str:
    """Step 6: new candidates and comparisons for annotators."""
    return _run(round_id, RoundState.GENERATING)


@shared_task(
    name="alignment.round_collect", queue="default", soft_time_limit=240, time_limit=300, ignore_result=True
)
def round_collect(round_id: int) -> str:
    """Step 7: once the round's comparisons have their votes, the human win rate and the ladder."""
    return _run(round_id, RoundState.COLLECTING)


STEP_TASKS: dict[str, Task] = {
    RoundState.SNAPSHOTTING: round_snapshot,
    RoundState.TRAINING_REWARD: round_reward,
    RoundState.TRAINING_POLICY: round_policy,
    RoundState.EVALUATING: round_evaluate,
    RoundState.GENERATING: round_generate,
    RoundState.COLLECTING: round_collect,
}


@shared_task(
    name="alignment.rounds_tick", queue="default", soft_time_limit=50, time_limit=60, ignore_result=True
)
def rounds_tick() -> dict[str, int]:
    """Beat, every CONCORD_ROUND_TICK_SECONDS: plan triggers, collecting rounds, lost step messages."""
    from alignment.services.rounds import rounds_tick as tick

    return asdict(tick())


@shared_task(
    name="alignment.round_start_scheduled",
    queue="default",
    soft_time_limit=50,
    time_limit=60,
    ignore_result=True,
)
def round_start_scheduled(plan_id: int) -> str:
    """A plan's cron schedule (django-celery-beat PeriodicTask) fired."""
    from alignment.services.rounds import round_start_scheduled as start

    return start(plan_id=plan_id)


@celeryd_after_setup.connect
def training_stack_preload(sender: str, instance: Any, **kwargs: Any) -> None:
    """A worker that serves the training queue loads torch, transformers, TRL and peft as it starts.

    Otherwise the first round step each fresh worker runs pays the import (19–53 s measured on 2 shared
    cores in bench/round.py) inside the round; a prefork pool forks its children after this, so they
    inherit the loaded modules. Other workers (the default queue, the web) never import them.
    """
    queues = getattr(getattr(instance.app.amqp, "queues", None), "consume_from", None) or {}
    if "training" not in queues:
        return
    began = time.perf_counter()
    import peft  # noqa: F401
    import torch  # noqa: F401
    import transformers  # noqa: F401
    import trl  # noqa: F401

    logger.info("training stack loaded in %.1f s", time.perf_counter() - began)
