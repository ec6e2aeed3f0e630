"""Reads of rounds: the timeline, one round with its runs, and the running step's progress, ETA and heartbeat."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from alignment.models import AlignmentPlan, AlignmentRound, RoundState, RunStep, TrainingRun
from annotate.models import Comparison, ComparisonStatus, JobStatus, Project

# The run each training step records (alignment.services.runs reads it the other way: STEP_STATE).
STATE_RUN = {
    RoundState.TRAINING_REWARD: RunStep.REWARD,
    RoundState.TRAINING_POLICY: RunStep.POLICY,
    RoundState.EVALUATING: RunStep.EVALUATE,
    RoundState.GENERATING: RunStep.GENERATE,
}
# Polled while a step works; a collecting round waits on people, so it is asked less often.
POLL_WORKING, POLL_COLLECTING = "2s", "15s"


def plan_get(*, project: Project) -> AlignmentPlan | None:
    """The project's plan, or None while nobody has set one up (reading never creates it)."""
    return AlignmentPlan.objects.filter(project=project).first()


def round_list(*, project: Project, limit: int | None = 50) -> list[AlignmentRound]:
    """The project's rounds, newest first, with the versions the timeline names (all of them: ``limit=None``)."""
    rounds = (
        AlignmentRound.objects.filter(project=project)
        .select_related("policy_version", "reward_version", "start_policy", "snapshot", "started_by")
        .order_by("-number")
    )
    return list(rounds if limit is None else rounds[:limit])


def round_get(*, project: Project, number: int) -> AlignmentRound | None:
    return (
        AlignmentRound.objects.filter(project=project, number=number)
        .select_related(
            "project", "policy_version", "reward_version", "start_policy", "snapshot", "started_by"
        )
        .first()
    )


def round_live_run(*, round_: AlignmentRound) -> TrainingRun | None:
    """The run of the round's current step that is queued or running, if any."""
    return (
        TrainingRun.objects.filter(round=round_, status__in=[JobStatus.QUEUED, JobStatus.RUNNING])
        .order_by("-created_at")
        .first()
    )


def round_runs(*, round_: AlignmentRound) -> QuerySet[TrainingRun]:
    """Every training run of the round in the order they were made (failed attempts of a retried step included)."""
    return TrainingRun.objects.filter(round=round_).order_by("created_at", "pk")


@dataclass(frozen=True)
class StepProgress:
    """What the polled status fragment shows of a round's current step."""

    round: AlignmentRound
    poll: str  # htmx's "every …" interval; empty once the round can no longer move by itself
    run: TrainingRun | None = None
    processed: int = 0
    total: int = 0
    elapsed_seconds: float | None = None
    eta_seconds: float | None = None
    heartbeat_at: datetime | None = None
    heartbeat_age_seconds: float | None = None
    stale: bool = False
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def percent(self) -> int:
        return int(100 * self.processed / self.total) if self.total else 0

    @property
    def figures_text(self) -> list[tuple[str, str]]:
        """The run's last progress figures (loss, reward, kl …), fractions to 4 significant digits, counts whole."""
        return [
            (name, f"{value:.4g}" if isinstance(value, float) else str(value))
            for name, value in self.figures.items()
            if name != "event"
        ]

    @property
    def eta_text(self) -> str:
        return duration_text(self.eta_seconds)

    @property
    def elapsed_text(self) -> str:
        return duration_text(self.elapsed_seconds)

    @property
    def heartbeat_text(self) -> str:
        return duration_text(self.heartbeat_age_seconds)


def duration_text(seconds: float | None) -> str:
    """A span of seconds as people read it: "45 s", "3 min 20 s", "2 h 5 min"; empty when unknown."""
    if seconds is None:
        return ""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def round_progress(*, round_: AlignmentRound, now: datetime | None = None) -> StepProgress:
    """The current step of ``round_``: its run's progress, an ETA from the pace so far, and the last heartbeat."""
    now = now or timezone.now()
    state = round_.state
    if state in (RoundState.DONE, RoundState.CANCELLED, RoundState.FAILED):
        return StepProgress(round=round_, poll="")
    elapsed = (now - round_.step_started_at).total_seconds() if round_.step_started_at else None
    if state == RoundState.COLLECTING:
        made = Comparison.objects.filter(project_id=round_.project_id, batch=round_.batch)
        total = made.count()
        done = made.exclude(status=ComparisonStatus.OPEN).count()
        return StepProgress(
            round=round_, poll=POLL_COLLECTING, processed=done, total=total, elapsed_seconds=elapsed
        )
    step = STATE_RUN.get(RoundState(state))
    run = (
        TrainingRun.objects.filter(round=round_, step=step).order_by("-created_at", "-pk").first()
        if step is not None
        else None
    )
    if run is None:  # pending, the snapshot, or a training step whose run the worker has not made yet
        return StepProgress(round=round_, poll=POLL_WORKING, elapsed_seconds=elapsed)
    age = (now - run.heartbeat_at).total_seconds() if run.heartbeat_at else None
    eta = None
    if run.status == JobStatus.RUNNING and run.started_at and run.processed and run.total:
        # The pace of this attempt so far; a resumed PPO run counts its steps on from the checkpoint,
        # so its first figures run fast and the estimate settles as it goes.
        spent = (now - run.started_at).total_seconds()
        eta = max(0.0, spent * (run.total - run.processed) / run.processed)
    return StepProgress(
        round=round_,
        poll=POLL_WORKING,
        run=run,
        processed=run.processed,
        total=run.total,
        elapsed_seconds=elapsed,
        eta_seconds=eta,
        heartbeat_at=run.heartbeat_at,
        heartbeat_age_seconds=age,
        stale=run.status == JobStatus.RUNNING and (age is None or age > settings.CONCORD_JOB_STALE_SECONDS),
        figures=dict(run.last_event or {}),
    )


def round_unfinished(*, project: Project) -> AlignmentRound | None:
    """The round the status box follows: the newest one not done or cancelled."""
    return (
        AlignmentRound.objects.filter(project=project)
        .exclude(state__in=[RoundState.DONE, RoundState.CANCELLED])
        .select_related("project")
        .order_by("-number")
        .first()
    )
