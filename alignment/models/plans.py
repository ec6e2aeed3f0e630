"""A project's alignment plan: what each round trains, from what, on which votes, and when a round starts."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from alignment.training.config import TINY_MODEL, TINY_REWARD_MODEL


class PolicyAlgorithm(models.TextChoices):
    PPO = "ppo", "PPO against the round's reward model"
    DPO = "dpo", "DPO on the round's snapshot"
    RLOO = "rloo", "RLOO against the round's reward model"
    KTO = "kto", "KTO on the snapshot's desirable and undesirable answers"
    ORPO = "orpo", "ORPO on the round's snapshot (no reference model)"


class AlignmentPlan(models.Model):
    """One per project. The JSON configs hold training keys (`alignment.training.load_config`); the
    plan fills in the models, data and seed of each round, so those keys are not set here."""

    project = models.OneToOneField(
        "annotate.Project", on_delete=models.CASCADE, related_name="alignment_plan"
    )
    enabled = models.BooleanField(
        default=False,
        help_text="When off, neither the threshold nor the schedule starts a round; a manual start still does.",
    )
    base_policy = models.CharField(
        max_length=500,
        default=TINY_MODEL,
        help_text="The policy of round 0: a folder saved with save_pretrained, or concord/tiny.",
    )
    reference_model = models.CharField(
        max_length=500,
        blank=True,
        help_text="The fixed model of the KL leash in every round; empty: the base policy (not the previous round's).",
    )
    reward_base = models.CharField(
        max_length=500,
        default=TINY_REWARD_MODEL,
        help_text="The model each round's reward model is trained from.",
    )
    algorithm = models.CharField(max_length=16, choices=PolicyAlgorithm.choices, default=PolicyAlgorithm.PPO)
    reward_config = models.JSONField(
        default=dict, blank=True, help_text="Reward-model training keys (strategy reward)."
    )
    policy_config = models.JSONField(
        default=dict, blank=True, help_text="Policy training keys for the algorithm."
    )
    generate_config = models.JSONField(
        default=dict,
        blank=True,
        help_text="Sampling keys for new candidates (strategy generate): response_length, temperature.",
    )
    snapshot_filters = models.JSONField(
        default=dict, blank=True, help_text="The snapshot filters of every round."
    )

    # The trigger.
    min_new_pairs = models.PositiveIntegerField(
        default=500, help_text="New agreed pairs since the last round's start needed to start the next."
    )
    min_agreement = models.FloatField(
        default=0.5,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="A comparison counts as an agreed pair when its winner's vote share is at least this.",
    )
    cooldown_minutes = models.PositiveIntegerField(
        default=60, help_text="Least time between the starts of two rounds."
    )
    schedule = models.CharField(
        max_length=100,
        blank=True,
        help_text='Optional cron "minute hour day-of-month month day-of-week" (django-celery-beat) that starts a round.',
    )
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )

    # New candidates and evaluation.
    prompts_per_round = models.PositiveIntegerField(
        default=64,
        validators=[MinValueValidator(1)],
        help_text="Prompts of the pool sampled for new comparisons each round.",
    )
    candidates_per_prompt = models.PositiveSmallIntegerField(
        default=2,
        validators=[MinValueValidator(1), MaxValueValidator(16)],
        help_text="Responses sampled per prompt from the new policy (2 or more adds a best-vs-worst comparison).",
    )
    heldout_share = models.FloatField(
        default=0.1,
        validators=[MinValueValidator(0.0), MaxValueValidator(0.5)],
        help_text="Share of the project's prompts kept out of every round's candidates, for evaluation.",
    )
    eval_prompts = models.PositiveIntegerField(
        default=64, validators=[MinValueValidator(1)], help_text="Held-out prompts each evaluation samples."
    )
    comparison_priority = models.IntegerField(
        default=100,
        help_text="Serving priority of a round's comparisons (imported work has 0; higher is served first).",
    )

    # The promotion gate.
    kl_budget = models.FloatField(
        default=5.0,
        validators=[MinValueValidator(0.0)],
        help_text="Most KL (nats per response) to the reference a champion may have.",
    )
    min_win_rate_low = models.FloatField(
        default=0.5,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="A new policy is promoted when the lower bound of its reward-model win rate over the champion exceeds this.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Alignment plan of {self.project}"

    @property
    def reference(self) -> str:
        return self.reference_model or self.base_policy
