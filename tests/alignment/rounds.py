"""Helpers the round tests share: a project with agreed votes, a plan with tiny configs, votes on a round's work."""

from __future__ import annotations

import json
import os
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from django.db.models import F

from alignment.models import AlignmentPlan, AlignmentRound, RoundState
from alignment.services.plans import plan_get_or_create, plan_update
from annotate.models import Choice, Comparison, ComparisonStatus, Project
from tests.factories import make_comparison, make_judgment
from tests.worker import FaultCluster, WorkerProcess, wait_for

WORDS = [
    "the",
    "a",
    "cat",
    "dog",
    "sun",
    "sea",
    "tree",
    "book",
    "song",
    "river",
    "light",
    "stone",
    "cloud",
    "bird",
    "road",
]

# Few steps and short sequences: a whole round on the tiny model in well under a minute on 2 cores.
TINY_REWARD = {"max_steps": 6, "per_device_train_batch_size": 8, "eval_split": 0.2, "max_seq_length": 128}
TINY_PPO = {
    "max_steps": 2,
    "per_device_train_batch_size": 8,
    "response_length": 12,
    "save_steps": 1,
    "max_seq_length": 128,
}
TINY_GENERATE = {"response_length": 12, "max_seq_length": 128}
# Fewer reward steps still, for the worker tests: they are about the round, not the reward model.
QUICK_REWARD = {**TINY_REWARD, "max_steps": 2}


def sentence(rng: random.Random, words: int = 5) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def make_agreed_pairs(project: Project, count: int, *, seed: int = 0, voters: int = 2) -> list[Comparison]:
    """``count`` completed comparisons whose ``voters`` votes all chose the lowercase answer (stored as A or B)."""
    rng = random.Random(seed)
    made = []
    for i in range(count):
        good, bad = sentence(rng), sentence(rng).upper()
        a_wins = rng.random() < 0.5
        comparison = make_comparison(
            project,
            prompt=f"Say something {i} {sentence(rng, 2)}",
            a=good if a_wins else bad,
            b=bad if a_wins else good,
        )
        choice = Choice.A if a_wins else Choice.B
        for _ in range(voters):
            make_judgment(comparison, None, choice)
        Comparison.objects.filter(pk=comparison.pk).update(
            winner=choice, agreement=1.0, status=ComparisonStatus.COMPLETE, slots_taken=F("vote_count")
        )
        made.append(comparison)
    return made


def make_both_bad(project: Project, count: int, *, seed: int = 1, voters: int = 2) -> list[Comparison]:
    """``count`` completed comparisons of two uppercase answers that every voter called both bad."""
    rng = random.Random(seed)
    made = []
    for i in range(count):
        comparison = make_comparison(
            project, prompt=f"Shout {i} {sentence(rng, 2)}", a=sentence(rng).upper(), b=sentence(rng).upper()
        )
        for _ in range(voters):
            make_judgment(comparison, None, Choice.BOTH_BAD)
        Comparison.objects.filter(pk=comparison.pk).update(
            winner=Choice.BOTH_BAD,
            agreement=1.0,
            status=ComparisonStatus.COMPLETE,
            slots_taken=F("vote_count"),
        )
        made.append(comparison)
    return made


def make_tiny_plan(project: Project, **fields: Any) -> AlignmentPlan:
    plan = plan_get_or_create(project=project)
    values: dict[str, Any] = {
        "reward_config": TINY_REWARD,
        "policy_config": TINY_PPO,
        "generate_config": TINY_GENERATE,
        "prompts_per_round": 6,
        "eval_prompts": 8,
        "heldout_share": 0.3,
        "min_new_pairs": 10,
        "cooldown_minutes": 0,
        **fields,
    }
    return plan_update(plan=plan, **values)


def vote_round(round_: AlignmentRound, choose: Any) -> int:
    """Vote on every comparison the round made: ``choose(comparison) -> Choice``; returns how many."""
    count = 0
    for comparison in Comparison.objects.filter(project=round_.project, batch=round_.batch):
        choice = choose(comparison)
        make_judgment(comparison, None, choice)
        Comparison.objects.filter(pk=comparison.pk).update(
            winner=choice, agreement=1.0, status=ComparisonStatus.COMPLETE
        )
        count += 1
    return count


# --- rounds on a real worker ----------------------------------------------------------------------


def round_worker_start(cluster: FaultCluster, model_root: Path) -> WorkerProcess:
    """A solo worker on both queues of the cluster's broker, writing model files under ``model_root``.

    Solo: the step runs in the worker process itself, so ``kill_all`` ends the heartbeat with it,
    and torch is imported once per worker rather than once per pool child.
    """
    cluster.env_extra["CONCORD_MODEL_ROOT"] = str(model_root)
    n = len(cluster.started)
    hostname = f"round-{os.getpid()}-{n}@localhost"
    command = [
        str(Path(sys.executable).with_name("celery")), "-A", "config", "worker", "-Q", "default,training",
        "--pool=solo", "-l", "info", "-n", hostname, "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    log = cluster.log_dir / f"round-worker-{n}.log"
    worker = WorkerProcess(command, cluster._env(), log, hostname=hostname)
    cluster.started.append(worker)
    return worker.start()


def round_in(round_id: int, *states: str) -> AlignmentRound | None:
    """The round once it is in one of ``states``; fails at once if it failed (with its error) instead."""
    round_ = AlignmentRound.objects.get(pk=round_id)
    if round_.state == RoundState.FAILED and RoundState.FAILED not in states:
        raise AssertionError(f"round {round_.number} failed at {round_.failed_step}: {round_.error}")
    return round_ if round_.state in states else None


def round_wait(cluster: FaultCluster, round_id: int, *states: str, timeout: float = 240) -> AlignmentRound:
    found: AlignmentRound = wait_for(
        lambda: round_in(round_id, *states), timeout=timeout, interval=0.5, what=f"{states}\n{cluster.logs()}"
    )
    return found


def new_policy_wins(round_: AlignmentRound) -> Callable[[Comparison], str]:
    """A voter who picks the round's new policy in every new-vs-previous comparison (A elsewhere)."""
    new, previous = round_.policy_version_id, round_.start_policy_id

    def choose(comparison: Comparison) -> str:
        a, b = comparison.response_a.model_version_id, comparison.response_b.model_version_id
        if {a, b} == {new, previous}:
            return Choice.A if a == new else Choice.B
        return Choice.A

    return choose


def head_to_head(round_: AlignmentRound) -> list[Comparison]:
    """The round's comparisons of its new policy against the policy it started from."""
    pair = {round_.policy_version_id, round_.start_policy_id}
    return [
        c
        for c in Comparison.objects.filter(project=round_.project, batch=round_.batch).select_related(
            "response_a", "response_b"
        )
        if {c.response_a.model_version_id, c.response_b.model_version_id} == pair
    ]


def queues_drained(cluster: FaultCluster, worker: WorkerProcess) -> bool:
    """Nothing waits in the broker and the worker runs nothing: every message sent so far was handled."""
    import redis

    from config.celery import app

    client = redis.Redis(port=cluster.redis.port)
    if any(client.llen(queue) for queue in ("default", "training")):
        return False
    inspect = app.control.inspect(destination=[worker.hostname], timeout=1.0)
    # A solo worker busy with a task does not answer at all (None): not drained.
    active, reserved = inspect.active() or {}, inspect.reserved() or {}
    return active.get(worker.hostname) == [] and reserved.get(worker.hostname) == []


def queued_messages(cluster: FaultCluster, queue: str) -> list[tuple[str, str]]:
    """(task name, args) of the messages waiting in ``queue`` of the cluster's broker."""
    found = []
    for raw in redis.Redis(port=cluster.redis.port).lrange(queue, 0, -1):
        headers = json.loads(raw)["headers"]
        found.append((headers["task"], headers["argsrepr"]))
    return found
