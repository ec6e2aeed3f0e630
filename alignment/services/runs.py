"""Training runs: the library's work inside a round's step, run under the shared job lifecycle.

A step that trains or samples records one ``TrainingRun`` and does its work under that run's claim
(``annotate.services.jobs``): a heartbeat while it works, a stale run reclaimed by the redelivered
message or by the reaper (which sends the step's task again), at most ``max_attempts`` attempts.
A reclaimed run works in the same folder, so PPO continues from its last checkpoint. Progress
events of the library become the job's progress, the run's last event and the cancel check.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.db import IntegrityError, transaction

from alignment.models import AlignmentRound, RoundState, RunStep, TrainingRun
from alignment.models.versions import model_root
from alignment.selectors.rounds import STATE_RUN
from alignment.services.rounds import RoundCancelled
from annotate.models import JobStatus
from annotate.services.jobs import JobClaim, JobKind, JobLost, job_claim, job_send_on_commit

# The round state whose task runs each kind of run (the selectors' table, read the other way).
STEP_STATE = {step: state for state, step in STATE_RUN.items()}
# Why a queued run of a round that left its step is failed (``training_runs_abandon``).
ABANDONED = "the round is no longer in this step"
# The run's last event and the cancel check are written and read at most this often.
EVENT_SECONDS = 2.0


class StepFailed(Exception):
    """The step's run failed (its error, or a worker lost on every attempt)."""


def _training_run_send(run_id: int) -> None:
    from alignment.services.rounds import step_send

    run = TrainingRun.objects.get(pk=run_id)
    if not step_send(round_id=run.round_id, state=STEP_STATE[RunStep(run.step)]):
        raise RuntimeError("the broker did not take the step's message")


# Nothing to discard: what a lost attempt left (a PPO checkpoint) is what the next attempt resumes from.
TRAINING_RUNS = JobKind(name="training", model=TrainingRun, send=_training_run_send)


def run_folder(round_: AlignmentRound, step: str) -> str:
    """Where a round's step works, relative to the model root (the same for every attempt and retry)."""
    return f"{round_folder(round_)}/{step}"


def round_folder(round_: AlignmentRound) -> str:
    """The round's folder under the model root. The start time makes it unique: a project deleted and made
    again with the same slug must never find (and resume from) an older round's checkpoints."""
    return f"{round_.project.slug}/round-{round_.number}-{round_.created_at:%Y%m%dT%H%M%S%f}"


def absolute(relative: str) -> Path:
    return model_root() / relative


class RunProgress:
    """The library's progress callback for a claimed run: job progress, last event, cancel check."""

    def __init__(self, claim: JobClaim, run: TrainingRun) -> None:
        self.claim = claim
        self.run = run
        self._checked = 0.0

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        total = _count(event.get("total_steps")) or self.run.total or 0
        if kind == "start":
            self.run.total = total
        # A "step" event's step is a number; the "start" event's names the library step.
        done = _count(event.get("step")) if kind == "step" else 0
        self.claim.progress(min(done, total) if total else done, total)  # raises JobLost when taken over
        now = time.monotonic()
        if now - self._checked < EVENT_SECONDS and event.get("event") == "step":
            return
        self._checked = now
        figures = {k: v for k, v in event.items() if _figure(v)}
        TrainingRun.objects.filter(
            pk=self.run.pk, status=JobStatus.RUNNING, attempts=self.claim.attempt
        ).update(last_event=figures)
        if AlignmentRound.objects.filter(pk=self.run.round_id, state=RoundState.CANCELLED).exists():
            raise RoundCancelled(f"round {self.run.round_id} was cancelled")


def _figure(value: Any) -> bool:
    """A value the run's last event keeps: a string or a finite number. A diverged loss (NaN, inf) is left
    out, since jsonb refuses them and the failed write would fail the round."""
    if isinstance(value, str | int) and not isinstance(value, bool):
        return True
    return isinstance(value, float) and math.isfinite(value)


def _count(value: Any) -> int:
    return int(value) if _figure(value) and not isinstance(value, str) else 0


def run_step_in_claim(
    *,
    round_: AlignmentRound,
    step: str,
    config: dict[str, Any],
    work: Callable[[Path, RunProgress], dict[str, Any]],
) -> dict[str, Any] | None:
    """The step's result: stored if a run already succeeded, else computed by ``work`` under the run's claim.

    None when the run is not this worker's to run (another live worker holds it, or took it over from
    this one). ``StepFailed`` when the run failed, ``RoundCancelled`` when the round was cancelled while
    it ran.
    """
    # The latest run, failed ones too: a failed run fails the step (its attempts are spent), and only
    # ``round_retry`` (``training_run_renew``) makes the step a new one. Skipping failed runs here let a step
    # whose worker kept dying start over with a fresh run, round after round of attempts.
    run = TrainingRun.objects.filter(round=round_, step=step).order_by("-pk").first()
    if run is None:
        try:
            run = TrainingRun.objects.create(
                round=round_, step=step, config=config, out_dir=run_folder(round_, step)
            )
        except IntegrityError:  # a concurrent delivery made it a moment ago
            run = TrainingRun.objects.filter(
                round=round_, step=step, status__in=["queued", "running"]
            ).first()
            if run is None:
                return None
    if run.status == JobStatus.SUCCEEDED:
        return run.result
    if run.status == JobStatus.FAILED:
        raise StepFailed(run.error_message or f"the {step} run failed")
    claim = job_claim(kind=TRAINING_RUNS, job_id=run.pk)
    if claim is None:
        run.refresh_from_db()
        if run.status == JobStatus.FAILED:
            raise StepFailed(run.error_message or f"the {step} run failed")
        return run.result if run.status == JobStatus.SUCCEEDED else None
    run = claim.job  # type: ignore[assignment]
    folder = absolute(run.out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    with claim:
        progress = RunProgress(claim, run)
        try:
            result = work(folder, progress)
        except JobLost:
            return None
        except RoundCancelled:
            claim.finish(status=JobStatus.FAILED, error_message="the round was cancelled")
            raise
        except Exception as exc:
            if not claim.finish(status=JobStatus.FAILED, error_message=f"{type(exc).__name__}: {exc}"[:4000]):
                return None  # taken over meanwhile: the error is a stale attempt's, the new holder decides
            raise
        # Written only while the claim holds: an attempt that lost it (judged stale, another took over)
        # keeps its result to itself, as for JobLost, and the round takes the new holder's.
        if not claim.finish(status=JobStatus.SUCCEEDED, result=result, processed=run.total or 0):
            return None
    return result


def training_run_renew(*, round_id: int, state: str) -> TrainingRun | None:
    """A new queued run, sent on commit, for the round's step when its latest run failed; else None.

    ``round_retry``'s part: the one way past a failed run, which otherwise fails its step again. Same
    config and folder as the failed run (a retried PPO run resumes from its last checkpoint).
    """
    step = STATE_RUN.get(RoundState(state))
    if step is None:
        return None
    failed = TrainingRun.objects.filter(round_id=round_id, step=step).order_by("-pk").first()
    if failed is None or failed.status != JobStatus.FAILED:
        return None
    run = TrainingRun.objects.create(
        round_id=round_id, step=step, config=failed.config, out_dir=failed.out_dir
    )
    job_send_on_commit(kind=TRAINING_RUNS, job_id=run.pk)
    return run


def training_runs_abandon(*, round_id: int, state: str) -> int:
    """FAILED for the unfinished runs of ``state``'s step once the round is out of that step; how many.

    The reaper requeues and re-sends a lost run of a cancelled or failed round, whose task then skips
    it: without this the run stayed queued and was re-sent for ever. Each run ends through its own
    claim, the lifecycle's conditional writes, so a run a live worker holds is left to that worker (in a
    cancelled round it stops at its next progress event). Under the round's row lock, so a retry that
    puts the round back in this step cannot lose the run it just made.
    """
    step = STATE_RUN.get(RoundState(state))
    if step is None:
        return 0
    live = TrainingRun.objects.filter(
        round_id=round_id, step=step, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
    )
    if not live.exists():  # the usual redelivered message: no lock taken
        return 0
    abandoned = 0
    with transaction.atomic():
        round_ = AlignmentRound.objects.select_for_update().filter(pk=round_id).first()
        if round_ is None or round_.state == state:
            return 0
        for run_id in live.values_list("pk", flat=True):
            claim = job_claim(kind=TRAINING_RUNS, job_id=run_id)
            if claim is not None and claim.finish(status=JobStatus.FAILED, error_message=ABANDONED):
                abandoned += 1
    return abandoned
