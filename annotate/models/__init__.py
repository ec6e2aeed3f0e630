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
from annotate.models.jobs import ImportFormat, ImportJob, ImportKind, JobStatus

__all__ = [
    "Assignment",
    "AssignmentStatus",
    "Choice",
    "Comparison",
    "ComparisonStatus",
    "ImportFormat",
    "ImportJob",
    "ImportKind",
    "JobStatus",
    "Judgment",
    "Membership",
    "Project",
    "Prompt",
    "Response",
    "ResponseSource",
    "Role",
    "Strength",
]
