"""Annotation models. Fields, constraints, indexes and one-line QuerySet filters only."""

from annotate.models.annotation import (
    Assignment,
    AssignmentStatus,
    Choice,
    Comparison,
    ComparisonStatus,
    Judgment,
    Membership,
    Project,
    Prompt,
    Response,
    ResponseSource,
    Role,
    Strength,
)
from annotate.models.jobs import ImportFormat, ImportJob, ImportKind, Job, JobStatus
from annotate.models.snapshots import (
    AggregationMethod,
    ExportFormat,
    ExportJob,
    ExportSchema,
    Snapshot,
    SnapshotPair,
)

__all__ = [
    "AggregationMethod",
    "Assignment",
    "AssignmentStatus",
    "Choice",
    "Comparison",
    "ComparisonStatus",
    "ExportFormat",
    "ExportJob",
    "ExportSchema",
    "ImportFormat",
    "ImportJob",
    "ImportKind",
    "Job",
    "JobStatus",
    "Judgment",
    "Membership",
    "Project",
    "Prompt",
    "Response",
    "ResponseSource",
    "Role",
    "Snapshot",
    "SnapshotPair",
    "Strength",
]
