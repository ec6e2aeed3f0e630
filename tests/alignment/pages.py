"""Rounds and versions written straight through the ORM, for the pages' display tests (no training needed)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from alignment.models import AlignmentRound, ModelVersion, RoundState, TrainingRun, VersionKind, VersionStatus
from annotate.models import JobStatus, Project

# What a finished round holds (the shapes alignment/services/steps.py writes).
DONE_METRICS: dict[str, Any] = {
    RoundState.TRAINING_REWARD: {"rm_accuracy": 0.71, "previous_rm_accuracy_on_new": 0.62},
    RoundState.EVALUATING: {
        "reward_mean": 0.42,
        "baseline_reward_mean": 0.1,
        "kl": 1.25,
        "rm_win_rate": {"wins": 28.0, "n": 40, "rate": 0.7, "low": 0.55, "high": 0.82},
        "warnings": [],
    },
    RoundState.COLLECTING: {
        "human_win_rate": {"wins": 19.5, "n": 30, "rate": 0.65, "low": 0.47, "high": 0.79},
        "ladder": {"0": -0.3, "1": 0.3},
    },
}


def make_version(
    project: Project,
    number: int,
    *,
    kind: str = VersionKind.POLICY,
    status: str = VersionStatus.ARCHIVED,
    **fields: Any,
) -> ModelVersion:
    return ModelVersion.objects.create(
        project=project,
        kind=kind,
        number=number,
        path=fields.pop("path", "concord/tiny" if number == 0 else f"{project.slug}/v{number}"),
        status=status,
        **fields,
    )


def make_round(project: Project, number: int, state: str = RoundState.DONE, **fields: Any) -> AlignmentRound:
    fields.setdefault("trigger", "manual")
    fields.setdefault("plan", {"algorithm": "ppo", "kl_budget": 5.0})
    return AlignmentRound.objects.create(project=project, number=number, state=state, **fields)


def make_finished_round(project: Project) -> tuple[AlignmentRound, ModelVersion, ModelVersion]:
    """Round 1, done: policy v1 (champion) trained from the base v0 against reward v1, with its metrics."""
    base = make_version(
        project, 0, status=VersionStatus.ARCHIVED, status_reason="replaced by a newer champion"
    )
    round_ = make_round(project, 1, metrics=DONE_METRICS, start_policy=base)
    reward = make_version(project, 1, kind=VersionKind.REWARD, status=VersionStatus.CHAMPION, round=round_)
    policy = make_version(
        project,
        1,
        status=VersionStatus.CHAMPION,
        status_reason="win-rate lower bound 0.550 > 0.5 and KL within budget",
        parent=base,
        round=round_,
        reward_model=reward,
        reference="concord/tiny",
        config={"strategy": "ppo", "kl_coef": 0.05},
        seed=1,
    )
    AlignmentRound.objects.filter(pk=round_.pk).update(reward_version=reward, policy_version=policy)
    round_.refresh_from_db()
    return round_, base, policy


def make_running_run(
    round_: AlignmentRound, step: str, *, started: float, heartbeat: float, now: datetime, **fields: Any
) -> TrainingRun:
    """A run a worker holds: claimed ``started`` seconds before ``now``, last heartbeat ``heartbeat`` seconds before."""
    return TrainingRun.objects.create(
        round=round_, step=step, out_dir=f"{round_.batch}/{step}", status=JobStatus.RUNNING, attempts=1,
        started_at=now - timedelta(seconds=started), heartbeat_at=now - timedelta(seconds=heartbeat), **fields,
    )  # fmt: skip
