"""Dataset snapshots (frozen, hashed, versioned sets of chosen/rejected pairs) and their exports."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from annotate.models.jobs import Job


class AggregationMethod(models.TextChoices):
    MAJORITY = "majority", "Majority vote"
    DAWID_SKENE = "dawid_skene", "Dawid–Skene"


class ExportFormat(models.TextChoices):
    JSONL = "jsonl", "JSON Lines"
    PARQUET = "parquet", "Parquet"
    HF_DATASET = "hf_dataset", "Hugging Face datasets folder"


class ExportSchema(models.TextChoices):
    HH = "hh", "HH-RLHF {chosen, rejected} transcripts"
    TRL_STANDARD = "trl_standard", "TRL explicit prompt {prompt, chosen, rejected}"
    TRL_CONVERSATIONAL = "trl_conversational", "TRL conversational (lists of {role, content})"
    TRL_UNPAIRED = "trl_unpaired", "TRL unpaired preference (KTO) {prompt, completion, label}"


class VoteKind(models.TextChoices):
    """The verdict a snapshot row stands for: a preference (a chosen and a rejected response), or neither side."""

    PREFERENCE = "preference", "One response preferred"
    BOTH_BAD = "both_bad", "Both bad"
    TIE = "tie", "Tie"


class SnapshotImmutable(Exception):
    """Raised on any attempt to change a snapshot or one of its pairs after it was written."""


class WriteOnceQuerySet(models.QuerySet[Any]):
    def update(self, **kwargs: Any) -> int:
        # A snapshot is a frozen record that exports and training runs cite by hash: no update path.
        raise SnapshotImmutable(f"{self.model.__name__} rows are write-once")


class Snapshot(models.Model):
    project = models.ForeignKey("annotate.Project", on_delete=models.CASCADE, related_name="snapshots")
    version = models.PositiveIntegerField(help_text="1, 2, 3… per project.")
    method = models.CharField(max_length=16, choices=AggregationMethod.choices)
    # The SnapshotFilters as given, so the same filter set can be re-applied later.
    filters = models.JSONField(default=dict)
    # How many comparisons each filter dropped, and the pairs kept.
    counts = models.JSONField(default=dict)
    pair_count = models.PositiveIntegerField(default=0)
    content_hash = models.CharField(max_length=64, help_text="sha256 over the kept pairs, in comparison order.")
    # {"benchmark": name, "benchmark_sha256": ..., "ngram": 13, "lines": n, "dropped": n}; empty when not run.
    decontamination = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = WriteOnceQuerySet.as_manager()

    class Meta:
        ordering = ["project", "-version"]
        constraints = [models.UniqueConstraint(fields=["project", "version"], name="snapshot_unique_project_version")]

    def __str__(self) -> str:
        return f"{self.project} v{self.version} ({self.pair_count} pairs)"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise SnapshotImmutable("snapshots are write-once")
        super().save(*args, **kwargs)


class SnapshotPair(models.Model):
    """One frozen pair: everything an export needs, so exports never re-aggregate or join."""

    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="pairs")
    # No database constraint: a snapshot outlives the comparison it was taken from.
    comparison = models.ForeignKey(
        "annotate.Comparison", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    chosen_is_a = models.BooleanField(help_text="True when response_a was chosen; a flip between snapshots changes it.")
    # The prompt as chat turns [{"role", "content"}], and the same as an HH-RLHF transcript
    # ("\n\nHuman: …\n\nAssistant: …"), rendered once here so that exports only concatenate.
    prompt = models.JSONField()
    transcript = models.TextField()
    chosen = models.TextField()
    rejected = models.TextField()
    # Llama 2 scale (significantly=3, better=2, slightly=1, negligibly=0) averaged over the
    # agreeing votes that state a strength; null when none does (e.g. imported pairs).
    margin = models.FloatField(null=True)
    agreement = models.FloatField(help_text="Share of the counted votes that chose the winner.")
    votes = models.PositiveIntegerField(help_text="Votes counted for this pair.")
    posterior = models.FloatField(help_text="P(winner | votes): Dawid–Skene posterior, or the vote share for majority.")
    # Only a snapshot taken with ``keep_unpaired`` has both-bad and tie rows: their "chosen" is response A
    # and "rejected" response B, neither preferred; the pairwise schemas skip them, trl_unpaired reads them.
    vote_kind = models.CharField(max_length=16, choices=VoteKind.choices, default=VoteKind.PREFERENCE)

    objects = WriteOnceQuerySet.as_manager()

    class Meta:
        # Exports stream a snapshot's pairs in id order through a server-side cursor.
        indexes = [models.Index(fields=["snapshot", "id"], name="snapshotpair_stream")]

    def __str__(self) -> str:
        return f"Pair {self.comparison_id} in snapshot {self.snapshot_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise SnapshotImmutable("snapshot pairs are write-once")
        super().save(*args, **kwargs)


class ExportJob(Job):
    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="exports")
    format = models.CharField(max_length=16, choices=ExportFormat.choices)
    schema = models.CharField(max_length=24, choices=ExportSchema.choices)
    # trl_unpaired only: a tie's two responses as two desirable rows (left out otherwise).
    include_ties = models.BooleanField(default=False)
    # Rows written from each kind of vote ({"preference": n, "both_bad": n, "tie": n}), and for
    # trl_unpaired the desirable and undesirable rows; set when the export succeeds.
    counts = models.JSONField(default=dict, blank=True)
    # Absolute path of the finished file or folder; set only once it is complete.
    path = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")

    class Meta(Job.Meta):
        pass

    def __str__(self) -> str:
        return f"Export {self.pk} ({self.format}/{self.schema}, {self.status})"
