"""Model versions: every reward model and policy a round made, with its lineage; immutable but for its status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from alignment.training.tiny import is_tiny


class VersionKind(models.TextChoices):
    POLICY = "policy", "Policy"
    REWARD = "reward", "Reward model"


class VersionStatus(models.TextChoices):
    CANDIDATE = "candidate", "Candidate"
    CHAMPION = "champion", "Champion"
    REJECTED = "rejected", "Rejected"
    ARCHIVED = "archived", "Archived"


class VersionImmutable(Exception):
    """Raised when a model version's content (anything but its status) would change."""


# What may change after a version is written: where it stands, and why.
STATUS_FIELDS = frozenset({"status", "status_reason", "status_changed_at"})


class ModelVersion(models.Model):
    project = models.ForeignKey("annotate.Project", on_delete=models.CASCADE, related_name="model_versions")
    kind = models.CharField(max_length=16, choices=VersionKind.choices)
    number = models.PositiveIntegerField(
        help_text="0 is the plan's base policy; 1, 2, … per project and kind."
    )
    path = models.CharField(
        max_length=500,
        help_text="Relative to CONCORD_MODEL_ROOT; the base policy keeps the name or folder the plan gave.",
    )
    parent = models.ForeignKey(
        "self",
        on_delete=models.RESTRICT,
        null=True,
        blank=True,
        related_name="children",
        help_text="The policy this one was trained from.",
    )
    round = models.ForeignKey(
        "alignment.AlignmentRound", on_delete=models.RESTRICT, null=True, blank=True, related_name="versions"
    )
    snapshot = models.ForeignKey(
        "annotate.Snapshot",
        on_delete=models.RESTRICT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The snapshot it was trained on.",
    )
    reward_model = models.ForeignKey(
        "self",
        on_delete=models.RESTRICT,
        null=True,
        blank=True,
        related_name="policies",
        help_text="The reward model a policy was trained against.",
    )
    reference = models.CharField(max_length=500, blank=True, help_text="The reference model of the KL leash.")
    config = models.JSONField(default=dict, blank=True)
    seed = models.IntegerField(default=0)
    libraries = models.JSONField(
        default=dict, blank=True, help_text="torch, transformers, trl, peft versions."
    )
    metrics = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=VersionStatus.choices, default=VersionStatus.CANDIDATE)
    status_reason = models.CharField(max_length=500, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "kind", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "kind", "number"], name="modelversion_unique_number"),
            # One champion per project and kind: what the next round starts from (and scores with).
            models.UniqueConstraint(
                fields=["project", "kind"], condition=Q(status="champion"), name="modelversion_one_champion"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} v{self.number} of {self.project}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Immutable once written: lineage and metrics are what later rounds and exports cite.
        if not self._state.adding:
            fields = kwargs.get("update_fields")
            if fields is None or not set(fields) <= STATUS_FIELDS:
                raise VersionImmutable(
                    "a model version is written once; only its status may change (update_fields)"
                )
        super().save(*args, **kwargs)

    @property
    def location(self) -> str:
        """What the training library is given: the absolute folder, or the base policy's name as the plan gave it."""
        return self.path if self.number == 0 else model_location(self.path)

    @property
    def label(self) -> str:
        return f"{'policy' if self.kind == VersionKind.POLICY else 'reward'} v{self.number}"


def model_root() -> Path:
    return Path(settings.CONCORD_MODEL_ROOT)


def model_location(path: str) -> str:
    """A stored model path as the library takes it: built-in ids and absolute paths as they are, else under the root."""
    if is_tiny(path) or Path(path).is_absolute():
        return path
    return str(model_root() / path)
