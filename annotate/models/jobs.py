"""Background jobs whose rows are the source of truth for their progress.

``Job`` is the lifecycle every background job shares (imports, exports, and the
alignment training runs): a worker claims the row with a conditional update, writes
``heartbeat_at`` while it works, and a job whose heartbeat goes stale is reclaimed up
to ``max_attempts`` times (annotate/services/jobs.py).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from annotate.importing.kinds import KIND_LABELS


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


def job_default_max_attempts() -> int:
    return int(settings.CONCORD_JOB_MAX_ATTEMPTS)


class Job(models.Model):
    """Fields of one background job's lifecycle; nothing about what the job does."""

    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Times a worker claimed the job: the number of the attempt running now."
    )
    max_attempts = models.PositiveSmallIntegerField(default=job_default_max_attempts)
    worker = models.CharField(
        max_length=255, blank=True, help_text="host:pid of the process that holds (or last held) the claim."
    )
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the task message was last handed to the broker; empty while it could not be.",
    )
    retry_reason = models.CharField(
        max_length=300, blank=True, help_text="Why an earlier attempt ended without a result (a lost worker)."
    )
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at"]
        # The reaper's sweep: the few unfinished jobs, by heartbeat.
        indexes = [
            models.Index(
                fields=["status", "heartbeat_at"],
                name="%(app_label)s_%(class)s_live",
                condition=Q(status__in=["queued", "running"]),
            )
        ]

    @property
    def percent(self) -> int:
        return int(100 * self.processed / self.total) if self.total else 0

    @property
    def is_finished(self) -> bool:
        return self.status in (JobStatus.SUCCEEDED, JobStatus.FAILED)

    @property
    def attempt(self) -> int:
        """The number of the attempt running now, or of the next one while queued."""
        return self.attempts + 1 if self.status == JobStatus.QUEUED else self.attempts


# PROMPTS, RESPONSES, PAIRS, RATINGS, HH: the kinds the import reads (annotate.importing.kinds.KIND_LABELS).
# (Enum's functional form, which django-stubs does not describe: hence the ignore.)
ImportKind = models.TextChoices(
    "ImportKind",
    [(kind.upper(), (kind, label)) for kind, label in KIND_LABELS.items()],  # type: ignore[call-overload]
)


class ImportFormat(models.TextChoices):
    JSONL = "jsonl", "JSON Lines"
    JSON = "json", "JSON array"
    CSV = "csv", "CSV"
    PARQUET = "parquet", "Parquet"
    HF_DATASET = "hf_dataset", "datasets folder (save_to_disk), or a zip of one"


class ImportJob(Job):
    project = models.ForeignKey("annotate.Project", on_delete=models.CASCADE, related_name="import_jobs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=ImportKind.choices)
    format = models.CharField(max_length=16, choices=ImportFormat.choices)
    file = models.FileField(upload_to="imports/%Y/%m/")
    original_name = models.CharField(max_length=255, blank=True)
    # Stored on the row (not only in the task message) so that a re-sent or reclaimed job keeps it.
    batch = models.CharField(max_length=100, blank=True)
    # {"prompts": n, "responses": n, "comparisons": n, "judgments": n, "duplicates": n}
    counts = models.JSONField(default=dict, blank=True)
    # [{"line": 3, "field": "chosen", "message": "..."}], at most the first 100.
    errors = models.JSONField(default=list, blank=True)

    class Meta(Job.Meta):
        pass

    def __str__(self) -> str:
        return f"Import {self.pk} ({self.kind}, {self.status})"
