"""Alignment rounds (a state machine, one Celery task per step) and the training runs their steps record."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from annotate.models import Job


class RoundState(models.TextChoices):
    PENDING = "pending", "Pending"
    SNAPSHOTTING = "snapshotting", "Taking the snapshot"
    TRAINING_REWARD = "training_reward", "Training the reward model"
    TRAINING_POLICY = "training_policy", "Training the policy"
    EVALUATING = "evaluating", "Evaluating"
    GENERATING = "generating", "Generating new candidates"
    COLLECTING = "collecting", "Collecting votes"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


# The steps in order; a round in one of these states has that step's task enqueued or running.
STEP_STATES = (
    RoundState.SNAPSHOTTING,
    RoundState.TRAINING_REWARD,
    RoundState.TRAINING_POLICY,
    RoundState.EVALUATING,
    RoundState.GENERATING,
    RoundState.COLLECTING,
)
# A round in one of these holds the project's lock (the partial unique constraint below). A
# collecting round does not: the next round may start while votes come in, and closes it. A
# failed one does, until it is retried or cancelled.
ACTIVE_STATES = (
    RoundState.PENDING,
    RoundState.SNAPSHOTTING,
    RoundState.TRAINING_REWARD,
    RoundState.TRAINING_POLICY,
    RoundState.EVALUATING,
    RoundState.GENERATING,
    RoundState.FAILED,
)


class RoundTrigger(models.TextChoices):
    THRESHOLD = "threshold", "Enough new agreed pairs"
    SCHEDULE = "schedule", "Schedule"
    MANUAL = "manual", "Started by hand"


class AlignmentRound(models.Model):
    project = models.ForeignKey("annotate.Project", on_delete=models.CASCADE, related_name="alignment_rounds")
    number = models.PositiveIntegerField(help_text="1, 2, 3… per project.")
    state = models.CharField(max_length=16, choices=RoundState.choices, default=RoundState.PENDING)
    trigger = models.CharField(max_length=16, choices=RoundTrigger.choices)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The plan as it was when the round started: editing the plan changes the next round, not this one.
    plan = models.JSONField(default=dict)
    agreed_pairs_at_start = models.PositiveIntegerField(default=0)
    snapshot = models.ForeignKey(
        "annotate.Snapshot", on_delete=models.RESTRICT, null=True, blank=True, related_name="+"
    )
    # The champion policy the round started from (the base policy, v0, in round 1).
    start_policy = models.ForeignKey(
        "alignment.ModelVersion", on_delete=models.RESTRICT, null=True, blank=True, related_name="+"
    )
    reward_version = models.ForeignKey(
        "alignment.ModelVersion", on_delete=models.RESTRICT, null=True, blank=True, related_name="+"
    )
    policy_version = models.ForeignKey(
        "alignment.ModelVersion", on_delete=models.RESTRICT, null=True, blank=True, related_name="+"
    )
    # {step state: {figure: value}}, written as each step ends; "warnings": [..] for reward hacking.
    metrics = models.JSONField(default=dict, blank=True)
    failed_step = models.CharField(max_length=16, choices=RoundState.choices, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    step_started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["project", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="alignmentround_unique_number"),
            # The lock: one unfinished round per project; two triggers at once start one round.
            models.UniqueConstraint(
                fields=["project"], condition=Q(state__in=ACTIVE_STATES), name="alignmentround_one_active"
            ),
        ]

    def __str__(self) -> str:
        return f"Round {self.number} of {self.project} ({self.state})"

    @property
    def is_finished(self) -> bool:
        return self.state in (RoundState.DONE, RoundState.CANCELLED)

    @property
    def batch(self) -> str:
        """The batch name of the comparisons this round generated."""
        return f"round-{self.number}"


class RunStep(models.TextChoices):
    REWARD = "reward", "Reward model"
    POLICY = "policy", "Policy"
    EVALUATE = "evaluate", "Evaluation"
    GENERATE = "generate", "Generation"


class TrainingRun(Job):
    """The training library's work inside one step of a round: a job with the shared lifecycle."""

    round = models.ForeignKey(AlignmentRound, on_delete=models.CASCADE, related_name="runs")
    step = models.CharField(max_length=16, choices=RunStep.choices)
    # The step config as the library took it (alignment.training.config_to_dict).
    config = models.JSONField(default=dict, blank=True)
    # The library's result (StepResult.to_dict()) once it succeeded.
    result = models.JSONField(default=dict, blank=True)
    # Figures of the last progress event (loss, reward, kl ...), for the rounds page.
    last_event = models.JSONField(default=dict, blank=True)
    out_dir = models.CharField(
        max_length=500, help_text="Relative to CONCORD_MODEL_ROOT; a resumed run continues there."
    )

    class Meta(Job.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["round", "step"],
                condition=Q(status__in=["queued", "running"]),
                name="trainingrun_one_live_per_step",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_step_display()} run {self.pk} of {self.round}"
