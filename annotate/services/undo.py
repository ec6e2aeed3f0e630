"""Undo: an annotator takes a submitted judgment back within ``JUDGMENT_UNDO_SECONDS``.

Under the locks submit takes (assignment, then comparison; ``services.judgments``), so a
concurrent submit or a second undo sees the result or waits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from annotate.models import (
    Assignment,
    AssignmentStatus,
    Choice,
    Comparison,
    ComparisonStatus,
    Judgment,
    Project,
)
from annotate.services.errors import LeaseClosed, NotYourLease, UndoRefused
from annotate.services.judgments import lease_access_check, vote_plurality


def judgment_undo_seconds() -> int:
    """How long after its submit a judgment may be undone (``settings.JUDGMENT_UNDO_SECONDS``)."""
    return int(getattr(settings, "JUDGMENT_UNDO_SECONDS", 30))


@dataclass(frozen=True)
class UndoResult:
    judgment_id: int  # the judgment taken back (deleted)
    lease: Assignment  # live again, with the comparison loaded, to be judged anew


def judgment_undo(
    *, assignment_id: int, annotator: User, project: Project | None = None, now: datetime | None = None
) -> UndoResult:
    """Take back the judgment submitted on this lease: its vote uncounted exactly once, the lease live again.

    The lease must pass ``access.lease_project`` (the caller's own, in a project they may still
    annotate, and of ``project`` when given), else NotYourLease. UndoRefused (409) names why
    otherwise: ``undo_not_submitted`` (nothing to undo: live, skipped, expired or undone already),
    ``undo_window_passed`` (older than ``JUDGMENT_UNDO_SECONDS``), ``undo_comparison_completed``
    (someone else voted after it and the comparison is complete). Gold items are undone like any
    other: refusing them would tell the annotator which items are gold, and undo shows no answer.

    Counters go down by exactly the one vote, in conditional updates under the locks submit takes
    (assignment, then comparison), so a concurrent submit or a second undo sees the result or waits;
    winner and agreement follow from the new counters as ``vote_plurality`` (and submit's SQL) computes
    them. ``slots_taken`` is unchanged: the submitted lease held its slot and the live one holds it
    again, so the comparison is served back to this annotator (the oldest live lease comes first)
    and reclaimed as usual if they leave it.
    """
    now = now or timezone.now()
    with transaction.atomic():
        lease = (
            Assignment.objects.select_for_update().filter(pk=assignment_id).select_related("project").first()
        )
        if lease is None:
            raise NotYourLease("this lease does not exist or belongs to someone else")
        lease_access_check(assignment_id=assignment_id, annotator=annotator, project=project)
        judgment = Judgment.objects.filter(assignment_id=lease.pk, annotator=annotator).first()
        if lease.status != AssignmentStatus.SUBMITTED or judgment is None:
            raise UndoRefused(f"nothing to undo: this lease is {lease.status}", code="undo_not_submitted")
        window = judgment_undo_seconds()
        if judgment.created_at <= now - timedelta(seconds=window):
            raise UndoRefused(
                f"too late to undo: a judgment can be undone for {window} s after it is submitted",
                code="undo_window_passed",
            )
        # Locked after the lease, as submit does; the fresh row has every vote committed before ours.
        comparison = Comparison.objects.select_for_update().get(pk=lease.comparison_id)
        if (
            comparison.status == ComparisonStatus.COMPLETE
            and Judgment.objects.filter(comparison_id=comparison.pk, id__gt=judgment.pk).exists()
        ):
            raise UndoRefused(
                "too late to undo: others have since completed this comparison",
                code="undo_comparison_completed",
            )
        field = f"votes_{judgment.choice}"
        counts = {c: getattr(comparison, f"votes_{c}") for c in Choice.values}
        counts[judgment.choice] -= 1
        winner, agreement = vote_plurality(counts)
        status = comparison.status
        if not comparison.is_gold and comparison.vote_count - 1 < lease.project.overlap_target:
            status = ComparisonStatus.OPEN
        uncounted = Comparison.objects.filter(
            pk=comparison.pk, vote_count__gt=0, **{f"{field}__gt": 0}
        ).update(
            **{field: F(field) - 1},
            vote_count=F("vote_count") - 1,
            winner=winner,
            agreement=agreement,
            status=status,
        )
        deleted, _ = Judgment.objects.filter(pk=judgment.pk, assignment_id=lease.pk).delete()
        reopened = Assignment.objects.filter(pk=lease.pk, status=AssignmentStatus.SUBMITTED).update(
            status=AssignmentStatus.LIVE,
            closed_at=None,
            expires_at=now + timedelta(seconds=lease.project.lease_ttl_seconds),
        )
        if (uncounted, deleted, reopened) != (1, 1, 1):  # the locks make this unreachable; never half an undo
            raise LeaseClosed("this judgment changed while it was being undone; try again")
    reopened_lease = Assignment.objects.select_related(
        "project", "comparison__prompt", "comparison__response_a", "comparison__response_b"
    ).get(pk=lease.pk)
    return UndoResult(judgment_id=judgment.pk, lease=reopened_lease)
