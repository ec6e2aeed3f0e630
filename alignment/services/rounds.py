"""An alignment round's life: started once per trigger, one step at a time, failed, retried or cancelled.

Each step is a Celery task taking the round id (alignment/tasks.py). A step task loads the round;
when the round is no longer in that step's state (a redelivered message, a cancelled round) it
does no work, and fails the step's runs no worker holds (the reaper would re-send them for ever).
Otherwise it does its work through ``alignment.services.steps`` (which records a TrainingRun where
it trains or samples, so the work itself runs under the shared job claim), and then
``round_advance`` moves the round on with a conditional update under the round's row lock and
enqueues the next step on commit. No chords or chains: the round row is the state. A step whose
run failed (out of attempts) fails the round; only ``round_retry`` gives it a new run.

The lock: one round per project in ``ACTIVE_STATES``, a partial unique constraint. Two triggers at
the same moment both try to insert; one wins, the other gets ``RoundNotStarted``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from alignment.models import (
    ACTIVE_STATES,
    AlignmentPlan,
    AlignmentRound,
    RoundState,
    RoundTrigger,
    TrainingRun,
)
from annotate.models import Choice, Comparison, JobStatus, Project

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

NEXT_STATE = {
    RoundState.SNAPSHOTTING: RoundState.TRAINING_REWARD,
    RoundState.TRAINING_REWARD: RoundState.TRAINING_POLICY,
    RoundState.TRAINING_POLICY: RoundState.EVALUATING,
    RoundState.EVALUATING: RoundState.GENERATING,
    RoundState.GENERATING: RoundState.COLLECTING,
    RoundState.COLLECTING: RoundState.DONE,
}
UNFINISHED = (*ACTIVE_STATES, RoundState.COLLECTING)


class RoundNotStarted(Exception):
    """No round was started: ``reason`` says why (one is running, the plan is off, too few pairs)."""

    def __init__(self, reason: str, running: AlignmentRound | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.running = running


class RoundRefused(ValueError):
    """A cancel or retry that does not apply to the round's state."""


class RoundCancelled(Exception):
    """Raised inside a running step when its round was cancelled: the work stops at its next progress event."""


@dataclass
class StepOutcome:
    """What a finished step leaves on the round: figures, and writes made under the round's row lock."""

    metrics: dict[str, Any] = field(default_factory=dict)
    # Called with the locked round inside the advancing transaction (it may create versions and set
    # fields on the round; the caller saves them).
    apply: Callable[[AlignmentRound], None] | None = None


# --- counting agreed pairs and the trigger -------------------------------------------------------


def agreed_pairs_count(*, project: Project, min_agreement: float) -> int:
    """Comparisons with a preferred side whose winner had at least ``min_agreement`` of the votes."""
    return Comparison.objects.filter(
        project=project, winner__in=[Choice.A, Choice.B], agreement__gte=min_agreement, is_gold=False
    ).count()


@dataclass(frozen=True)
class TriggerStatus:
    ready: bool
    reason: str
    new_pairs: int
    needed: int


def round_trigger_status(*, plan: AlignmentPlan, now: Any = None) -> TriggerStatus:
    """Whether the plan's threshold would start a round now, and if not, why (for the plan page and beat)."""
    now = now or timezone.now()
    project = plan.project
    last = AlignmentRound.objects.filter(project=project).order_by("-number").first()
    agreed = agreed_pairs_count(project=project, min_agreement=plan.min_agreement)
    new = agreed - (last.agreed_pairs_at_start if last is not None else 0)
    needed = plan.min_new_pairs

    def status(ready: bool, reason: str) -> TriggerStatus:
        return TriggerStatus(ready=ready, reason=reason, new_pairs=max(new, 0), needed=needed)

    if not plan.enabled:
        return status(False, "the plan is paused")
    running = AlignmentRound.objects.filter(project=project, state__in=ACTIVE_STATES).first()
    if running is not None:
        return status(False, f"round {running.number} is {running.get_state_display().lower()}")
    if new < needed:
        return status(False, f"{max(new, 0)} of {needed} new agreed pairs")
    if last is not None:
        ready_at = last.created_at + timedelta(minutes=plan.cooldown_minutes)
        if now < ready_at:
            minutes = max(1, int((ready_at - now).total_seconds() // 60))
            return status(False, f"cooling down: {minutes} min until the next round may start")
    return status(True, f"{new} new agreed pairs")


# --- start, cancel, retry ---------------------------------------------------------------------------


def round_start(
    *, project: Project, trigger: str = RoundTrigger.MANUAL, user: User | None = None
) -> AlignmentRound:
    """Start the project's next round (its first step enqueued on commit); ``RoundNotStarted`` when one is unfinished."""
    from alignment.services.plans import plan_get_or_create
    from alignment.services.versions import version_base_ensure, version_champion

    try:
        with transaction.atomic():
            Project.objects.select_for_update(no_key=True).filter(pk=project.pk).first()
            running = AlignmentRound.objects.filter(project=project, state__in=ACTIVE_STATES).first()
            if running is not None:
                raise RoundNotStarted(f"round {running.number} is unfinished ({running.state})", running)
            # Made here, not before the transaction: a refused start leaves no new plan behind. After
            # the project's lock, so two first starts at once do not both insert one.
            plan = plan_get_or_create(project=project)
            version_base_ensure(project=project, plan=plan)
            start = version_champion(project=project, kind="policy")
            # The next round closes the collecting one: its votes so far are what it gets.
            for collecting in AlignmentRound.objects.filter(project=project, state=RoundState.COLLECTING):
                round_collect_close(round_=collecting)
            last = AlignmentRound.objects.filter(project=project).aggregate(n=Max("number"))["n"] or 0
            round_ = AlignmentRound.objects.create(
                project=project,
                number=last + 1,
                trigger=trigger,
                started_by=user if user is not None and user.is_authenticated else None,
                plan=plan_frozen(plan),
                agreed_pairs_at_start=agreed_pairs_count(project=project, min_agreement=plan.min_agreement),
                start_policy=start,
                step_started_at=timezone.now(),
            )
            step_send_on_commit(round_id=round_.pk, state=RoundState.SNAPSHOTTING)
    except IntegrityError as exc:  # the partial unique constraint: another trigger won the race
        running = AlignmentRound.objects.filter(project=project, state__in=ACTIVE_STATES).first()
        if running is None:
            raise  # no round won: some other row the database refused, with its own error
        raise RoundNotStarted("another round started at the same moment", running) from exc
    return round_


def plan_frozen(plan: AlignmentPlan) -> dict[str, Any]:
    """The plan's values a round runs with, as JSON."""
    from django.forms.models import model_to_dict

    values = model_to_dict(plan, exclude=["id", "project", "periodic_task"])
    values["reference"] = plan.reference
    return values


def round_cancel(*, round_: AlignmentRound) -> AlignmentRound:
    """Cancel an unfinished round; a running step stops at its next progress event."""
    changed = AlignmentRound.objects.filter(pk=round_.pk, state__in=UNFINISHED).update(
        state=RoundState.CANCELLED, finished_at=timezone.now()
    )
    round_.refresh_from_db()
    if changed != 1:
        raise RoundRefused(f"round {round_.number} is {round_.state}: there is nothing to cancel")
    return round_


def round_retry(*, round_: AlignmentRound) -> AlignmentRound:
    """Run a failed round again from the step that failed (its finished steps are kept)."""
    round_.refresh_from_db()
    if round_.state != RoundState.FAILED or not round_.failed_step:
        raise RoundRefused(f"round {round_.number} is {round_.state}: only a failed round can be retried")
    from alignment.services.runs import training_run_renew

    step = round_.failed_step
    with transaction.atomic():
        changed = AlignmentRound.objects.filter(pk=round_.pk, state=RoundState.FAILED).update(
            state=step, failed_step="", error="", step_started_at=timezone.now()
        )
        # A step whose run failed gets a new run here, sent on commit: the step itself fails the round
        # again on a failed run, so that a run out of attempts is not started afresh behind its back.
        if changed == 1 and training_run_renew(round_id=round_.pk, state=step) is None:
            step_send_on_commit(round_id=round_.pk, state=step)
    round_.refresh_from_db()
    return round_


# --- running a step ----------------------------------------------------------------------------------


def step_send(*, round_id: int, state: str) -> bool:
    """Hand the step's task message to the broker; on failure the tick sends it again later."""
    from alignment.tasks import STEP_TASKS

    try:
        STEP_TASKS[state].delay(round_id)
    except Exception:  # any publishing error: the round keeps its state and rounds_tick re-sends
        logger.warning("could not send step %s of round %s; the tick will", state, round_id, exc_info=True)
        return False
    return True


def step_send_on_commit(*, round_id: int, state: str) -> None:
    transaction.on_commit(lambda: step_send(round_id=round_id, state=state))


def round_step_run(*, round_id: int, state: str) -> str:
    """Do one step of the round if the round is in it, then move the round on; what happened, in a word."""
    from alignment.services.steps import STEP_WORK

    if state == RoundState.SNAPSHOTTING:
        AlignmentRound.objects.filter(pk=round_id, state=RoundState.PENDING).update(
            state=RoundState.SNAPSHOTTING, step_started_at=timezone.now()
        )
    round_ = AlignmentRound.objects.select_related("project").filter(pk=round_id).first()
    if round_ is None or round_.state != state:
        if round_ is not None:
            from alignment.services.runs import training_runs_abandon

            # A run the reaper re-sends for a round that left the step would otherwise stay queued.
            training_runs_abandon(round_id=round_id, state=state)
        return "skipped"  # done already (a redelivered message), or cancelled, failed, gone
    try:
        outcome = STEP_WORK[state](round_)
    except RoundCancelled:
        return "cancelled"
    except Exception as exc:
        logger.exception("round %s: step %s failed", round_id, state)
        round_fail(round_id=round_id, state=state, error=exc)
        return "failed"
    if outcome is None:
        return "waiting"  # another attempt holds the step's run, or the votes are not all in
    try:
        advanced = round_advance(round_id=round_id, state=state, outcome=outcome)
    except Exception as exc:
        # Recording the outcome failed (a version or metrics the database refused): as the step's own
        # error, or each resend would do the step again and fail here again, with the cause in no page.
        logger.exception("round %s: recording step %s failed", round_id, state)
        round_fail(round_id=round_id, state=state, error=exc)
        return "failed"
    return "advanced" if advanced else "skipped"


def round_advance(*, round_id: int, state: str, outcome: StepOutcome) -> bool:
    """Record the step's outcome and move the round to the next state, once; True when this call did it."""
    with transaction.atomic():
        round_ = (
            AlignmentRound.objects.select_for_update().select_related("project").filter(pk=round_id).first()
        )
        if round_ is None or round_.state != state:
            return False
        if outcome.apply is not None:
            outcome.apply(round_)
        round_.metrics = {**round_.metrics, state: {**round_.metrics.get(state, {}), **outcome.metrics}}
        now = timezone.now()
        step_seconds = (now - round_.step_started_at).total_seconds() if round_.step_started_at else None
        round_.metrics[state]["seconds"] = step_seconds
        round_.state = NEXT_STATE[RoundState(state)]
        round_.step_started_at = now
        if round_.state == RoundState.DONE:
            round_.finished_at = now
        round_.save()
        if round_.state != RoundState.DONE:
            step_send_on_commit(round_id=round_id, state=round_.state)
    return True


def round_fail(*, round_id: int, state: str, error: BaseException | str) -> None:
    """Mark the round failed at ``state`` with the error (the admin may retry from there or cancel)."""
    message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    AlignmentRound.objects.filter(pk=round_id, state=state).update(
        state=RoundState.FAILED, failed_step=state, error=message[:4000]
    )


def round_collect_close(*, round_: AlignmentRound) -> None:
    """End a collecting round with the votes it has (the next round is starting)."""
    from alignment.services.steps import collect_outcome

    round_advance(
        round_id=round_.pk, state=RoundState.COLLECTING, outcome=collect_outcome(round_, final=True)
    )


# --- beat --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TickResult:
    started: int = 0
    collecting: int = 0
    resent: int = 0


def rounds_tick() -> TickResult:
    """Start the rounds whose plans' thresholds are met, check collecting rounds, re-send lost step messages."""
    started = collecting = resent = 0
    for plan in AlignmentPlan.objects.filter(enabled=True).select_related("project"):
        if round_trigger_status(plan=plan).ready:
            try:
                round_start(project=plan.project, trigger=RoundTrigger.THRESHOLD)
                started += 1
            except RoundNotStarted:
                pass
    for round_id in AlignmentRound.objects.filter(state=RoundState.COLLECTING).values_list("pk", flat=True):
        step_send(round_id=round_id, state=RoundState.COLLECTING)
        collecting += 1
    # A step whose message was lost (the broker was down) and that has no live run gets it again.
    quiet = timezone.now() - timedelta(seconds=settings.CONCORD_JOB_RESEND_SECONDS)
    live = TrainingRun.objects.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).values("round_id")
    stuck = AlignmentRound.objects.filter(
        Q(step_started_at__lt=quiet) | Q(step_started_at__isnull=True),
        state__in=[s for s in ACTIVE_STATES if s != RoundState.FAILED],
    ).exclude(pk__in=live)
    for round_ in stuck:
        resent += _step_resend(round_)
    return TickResult(started=started, collecting=collecting, resent=resent)


def _step_resend(round_: AlignmentRound) -> bool:
    """Send a quiet step's message again, at most once per CONCORD_JOB_RESEND_SECONDS; True when sent.

    The resend moves ``step_started_at`` on (the one sent time the round has; the step's seconds then
    count from it), or every tick would add another copy while the first still waits in the queue.
    Conditional on the time read, so of two ticks at once one sends. Put back when the broker did not
    take the message, so the next tick tries again rather than one interval later.
    """
    now = timezone.now()
    claimed = AlignmentRound.objects.filter(
        pk=round_.pk, state=round_.state, step_started_at=round_.step_started_at
    ).update(step_started_at=now)
    if claimed != 1:
        return False
    state = RoundState.SNAPSHOTTING if round_.state == RoundState.PENDING else round_.state
    if step_send(round_id=round_.pk, state=state):
        return True
    AlignmentRound.objects.filter(pk=round_.pk, step_started_at=now).update(
        step_started_at=round_.step_started_at
    )
    return False


def round_start_scheduled(*, plan_id: int) -> str:
    """The plan's cron fired: start a round unless the plan is paused or one is unfinished."""
    plan = AlignmentPlan.objects.select_related("project").filter(pk=plan_id).first()
    if plan is None or not plan.enabled:
        return "paused"
    try:
        round_start(project=plan.project, trigger=RoundTrigger.SCHEDULE)
    except RoundNotStarted as exc:
        return exc.reason
    return "started"
