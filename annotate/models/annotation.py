"""Projects, prompts, responses, comparisons, leases and judgments."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q


class Role(models.TextChoices):
    ANNOTATOR = "annotator", "Annotator"
    ADMIN = "admin", "Admin"


class Choice(models.TextChoices):
    """A verdict in canonical terms: ``a``/``b`` name the comparison's responses, not screen sides."""

    A = "a", "A is better"
    B = "b", "B is better"
    TIE = "tie", "Tie"
    BOTH_BAD = "both_bad", "Both bad"


class Strength(models.TextChoices):
    """Llama 2's four-level preference scale (Touvron et al., 2023, §3.2.1)."""

    SIGNIFICANTLY = "significantly", "Significantly better"
    BETTER = "better", "Better"
    SLIGHTLY = "slightly", "Slightly better"
    NEGLIGIBLY = "negligibly", "Negligibly better / unsure"


class ResponseSource(models.TextChoices):
    IMPORTED = "imported", "Imported"
    MODEL = "model", "Sampled from a model version"


class ComparisonStatus(models.TextChoices):
    OPEN = "open", "Open"
    COMPLETE = "complete", "Complete"
    RETIRED = "retired", "Retired"


class AssignmentStatus(models.TextChoices):
    LIVE = "live", "Live"
    SUBMITTED = "submitted", "Submitted"
    SKIPPED = "skipped", "Skipped"
    EXPIRED = "expired", "Expired"


class Project(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    guidelines = models.TextField(blank=True, help_text="Markdown shown beside every task.")
    overlap_target = models.PositiveSmallIntegerField(
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(50)],
        help_text="Votes wanted per comparison (k).",
    )
    lease_ttl_seconds = models.PositiveIntegerField(
        default=900,
        validators=[MinValueValidator(10), MaxValueValidator(86_400)],
        help_text="How long an annotator holds a comparison before it goes back to the pool.",
    )
    gold_rate = models.FloatField(
        default=0.1,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Share of served items that are gold items, when gold items exist.",
    )
    # Annotator-quality flag thresholds (DESIGN.md, "Quality of labels").
    min_gold_accuracy = models.FloatField(default=0.6, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    min_gold_items = models.PositiveIntegerField(default=10)
    position_bias_p = models.FloatField(default=0.01, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    min_median_seconds = models.FloatField(default=3.0, validators=[MinValueValidator(0.0)])
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    members: models.ManyToManyField[User, Membership] = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="annotation_projects"
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(gold_rate__gte=0) & Q(gold_rate__lte=1), name="project_gold_rate_0_1"
            ),
            models.CheckConstraint(condition=Q(overlap_target__gte=1), name="project_overlap_target_min_1"),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANNOTATOR)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="membership_unique_project_user")]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} ({self.role})"


class Prompt(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="prompts")
    # A plain string, or a list of {"role": ..., "content": ...} turns.
    content = models.JSONField()
    content_hash = models.CharField(max_length=64, help_text="sha256 of the canonical JSON of content.")
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "content_hash"], name="prompt_unique_content_per_project")
        ]

    def __str__(self) -> str:
        return self.preview

    @property
    def turns(self) -> list[dict[str, str]]:
        """The prompt as chat turns; a plain string is one user turn."""
        if isinstance(self.content, str):
            return [{"role": "user", "content": self.content}]
        turns: list[dict[str, Any]] = self.content
        return [{"role": str(t["role"]), "content": str(t["content"])} for t in turns]

    @property
    def preview(self) -> str:
        last = self.turns[-1]["content"] if self.turns else ""
        return last[:80]


class Response(models.Model):
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="responses")
    text = models.TextField()
    content_hash = models.CharField(max_length=64)
    source = models.CharField(max_length=16, choices=ResponseSource.choices, default=ResponseSource.IMPORTED)
    # The policy version that sampled it (alignment rounds); imported responses have none (a label the
    # file gave is kept in metadata["model_version"]). Never shown to annotators.
    model_version = models.ForeignKey(
        "alignment.ModelVersion", on_delete=models.SET_NULL, null=True, blank=True, related_name="responses"
    )
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["prompt", "content_hash"], name="response_unique_text_per_prompt")
        ]

    def __str__(self) -> str:
        return self.text[:80]


class ComparisonQuerySet(models.QuerySet["Comparison"]):
    def open(self) -> ComparisonQuerySet:
        return self.filter(status=ComparisonStatus.OPEN)


class Comparison(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="comparisons")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="comparisons")
    response_a = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="+")
    response_b = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16, choices=ComparisonStatus.choices, default=ComparisonStatus.OPEN)
    priority = models.IntegerField(default=0, help_text="Higher is served first.")
    is_gold = models.BooleanField(default=False)
    gold_answer = models.CharField(max_length=16, choices=Choice.choices, blank=True)
    batch = models.CharField(max_length=100, blank=True, help_text="Import batch, for per-batch agreement.")
    # Live leases + submitted judgments. Kept on the row (not counted) so that the
    # FOR UPDATE SKIP LOCKED pick re-checks it after a concurrent commit: PostgreSQL
    # re-evaluates WHERE on a row only when that row itself changed.
    slots_taken = models.PositiveIntegerField(default=0)
    vote_count = models.PositiveIntegerField(default=0)
    # Human votes per canonical choice: submit counts a vote by incrementing one of these
    # in the same UPDATE that sets winner and agreement (see judgment_submit).
    votes_a = models.PositiveIntegerField(default=0)
    votes_b = models.PositiveIntegerField(default=0)
    votes_tie = models.PositiveIntegerField(default=0)
    votes_both_bad = models.PositiveIntegerField(default=0)
    winner = models.CharField(max_length=16, choices=Choice.choices, blank=True)
    agreement = models.FloatField(null=True, blank=True, help_text="Winner's share of the votes.")
    posterior = models.FloatField(null=True, blank=True, help_text="Aggregation posterior of the winner.")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ComparisonQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(response_a=models.F("response_b")), name="comparison_distinct_responses"),
            models.UniqueConstraint(fields=["response_a", "response_b"], name="comparison_unique_pair"),
            models.CheckConstraint(condition=Q(is_gold=False) | ~Q(gold_answer=""), name="comparison_gold_has_answer"),
        ]
        indexes = [
            models.Index(
                fields=["project", "-priority", "slots_taken", "id"],
                condition=Q(status="open", is_gold=False),
                name="comparison_pick_open",
            ),
            models.Index(fields=["project", "status"], name="comparison_project_status"),
        ]

    def __str__(self) -> str:
        return f"Comparison {self.pk} ({self.prompt.preview})"


class AssignmentQuerySet(models.QuerySet["Assignment"]):
    def live(self) -> AssignmentQuerySet:
        return self.filter(status=AssignmentStatus.LIVE)


class Assignment(models.Model):
    """A lease: one annotator holds one comparison until it is judged, skipped or expires."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="assignments")
    comparison = models.ForeignKey(Comparison, on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments")
    # True when response B is shown on the left, as "A", to this annotator.
    flipped = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=AssignmentStatus.choices, default=AssignmentStatus.LIVE)
    skip_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = AssignmentQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["comparison", "annotator"],
                condition=Q(status="live"),
                name="assignment_one_live_lease_per_annotator",
            )
        ]
        indexes = [
            models.Index(fields=["annotator", "project", "status"], name="assignment_annotator_status"),
            models.Index(fields=["expires_at"], condition=Q(status="live"), name="assignment_live_expiry"),
            models.Index(fields=["comparison", "annotator"], name="assignment_comparison_annot"),
        ]

    def __str__(self) -> str:
        return f"Lease {self.pk}: {self.annotator} on {self.comparison_id} ({self.status})"


class Judgment(models.Model):
    comparison = models.ForeignKey(Comparison, on_delete=models.CASCADE, related_name="judgments")
    # Null only for judgments imported with an already-decided pair.
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="judgments"
    )
    assignment = models.OneToOneField(
        Assignment, on_delete=models.SET_NULL, null=True, blank=True, related_name="judgment"
    )
    choice = models.CharField(max_length=16, choices=Choice.choices)
    strength = models.CharField(max_length=16, choices=Strength.choices, blank=True)
    rationale = models.TextField(blank=True)
    seconds_spent = models.FloatField(null=True, blank=True)
    # Display order at the time of judging, for the left/right bias test.
    shown_flipped = models.BooleanField(default=False)
    is_imported = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["comparison", "annotator"], name="judgment_one_per_annotator"),
            models.CheckConstraint(
                condition=Q(is_imported=True) | Q(annotator__isnull=False), name="judgment_has_annotator_unless_imported"
            ),
        ]
        indexes = [
            models.Index(fields=["annotator", "created_at"], name="judgment_annotator_created"),
        ]

    def __str__(self) -> str:
        return f"{self.annotator or 'imported'}: {self.choice} on {self.comparison_id}"
