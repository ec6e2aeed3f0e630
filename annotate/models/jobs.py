"""Background jobs whose rows are the source of truth for their progress."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class ImportKind(models.TextChoices):
    PROMPTS = "prompts", "Prompts"
    RESPONSES = "responses", "Responses"
    PAIRS = "pairs", "Preference pairs {prompt, chosen, rejected}"
    RATINGS = "ratings", "Ratings {prompt, response_a, response_b, preference}"
    HH = "hh", "HH-RLHF transcripts {chosen, rejected}"


class ImportFormat(models.TextChoices):
    JSONL = "jsonl", "JSON Lines"
    JSON = "json", "JSON array"
    CSV = "csv", "CSV"
    PARQUET = "parquet", "Parquet"
    HF_DATASET = "hf_dataset", "datasets folder (save_to_disk), or a zip of one"


class ImportJob(models.Model):
    project = models.ForeignKey("annotate.Project", on_delete=models.CASCADE, related_name="import_jobs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    kind = models.CharField(max_length=16, choices=ImportKind.choices)
    format = models.CharField(max_length=16, choices=ImportFormat.choices)
    file = models.FileField(upload_to="imports/%Y/%m/")
    original_name = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    # {"prompts": n, "responses": n, "comparisons": n, "judgments": n, "duplicates": n}
    counts = models.JSONField(default=dict, blank=True)
    # [{"line": 3, "field": "chosen", "message": "..."}], at most the first 100.
    errors = models.JSONField(default=list, blank=True)
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Import {self.pk} ({self.kind}, {self.status})"

    @property
    def percent(self) -> int:
        return int(100 * self.processed / self.total) if self.total else 0
