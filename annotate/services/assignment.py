"""Serving comparisons to annotators: leases, gold mixing, submit, skip, reclaim.

Concurrency (DESIGN.md, "PostgreSQL is the real database"): the pick locks one
comparison row with ``FOR UPDATE SKIP LOCKED`` and bumps its ``slots_taken`` in the
same transaction, so a concurrent picker either skips the row or, after the commit,
re-reads ``slots_taken`` (PostgreSQL re-checks WHERE on a row changed under it).
Lock order is always assignment → comparison (submit, skip, reclaim) or comparison
alone (pick), so no two of these can deadlock. On SQLite the IMMEDIATE transaction
mode serialises writers, which gives the same guarantees more slowly.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from annotate.models import (
    Assignment,
    AssignmentStatus,
    Choice,
    Comparison,
    ComparisonStatus,
    Judgment,
    Project,
    Strength,
)
from annotate.services.errors import InvalidChoice, LeaseClosed, NotYourLease

# What the annotator pressed, in screen terms: "a" is whatever was shown on the left.
DISPLAY_CHOICES = {"a", "b", "tie", "both_bad"}
_SWAP = {Choice.A: Choice.B, Choice.B: Choice.A}

_rng = random.SystemRandom()

# Reclaiming on every request would add a transaction to the hot path; expired leases
# are rare, so each process sweeps a project at most this often (the beat task
# ``annotate.reclaim_expired_leases`` sweeps every project once a minute as well).
RECLAIM_EVERY_SECONDS = 5.0
_last_sweep: dict[int, float] = {}


def canonical_choice(*, display_choice: str, flipped: bool) -> Choice:
    """Undo the display flip: the choice in terms of the comparison's response_a/response_b."""
    if display_choice not in DISPLAY_CHOICES:
        raise InvalidChoice(f"choice must be one of {sorted(DISPLAY_CHOICES)}, got {display_choice!r}")
    choice = Choice(display_choice)
    return _SWAP.get(choice, choice) if flipped else choice


def assignment_reclaim_expired(*, project: Project | None = None, now: datetime | None = None) -> int:
    """Expire live leases past their time and give their slots back; returns how many."""
    now = now or timezone.now()
    expired = Assignment.objects.filter(status=AssignmentStatus.LIVE, expires_at__lte=now)
    if project is not None:
        expired = expired.filter(project=project)
    reclaimed = 0
    with transaction.atomic():
        # SKIP LOCKED: a lease being submitted right now is left to its submitter.
        rows = list(
            expired.select_for_update(skip_locked=True).order_by("id").values_list("id", "comparison_id")
        )
        if not rows:
            return 0
        reclaimed = Assignment.objects.filter(
            id__in=[pk for pk, _ in rows], status=AssignmentStatus.LIVE
        ).update(status=AssignmentStatus.EXPIRED, closed_at=now)
        freed = Counter(comparison_id for _, comparison_id in rows)
        for comparison_id in sorted(freed):
            Comparison.objects.filter(pk=comparison_id, is_gold=False).update(
                slots_taken=F("slots_taken") - freed[comparison_id]
            )
    return reclaimed


def _lease_with_content(pk: int) -> Assignment:
    return Assignment.objects.select_related(
        "comparison__prompt", "comparison__response_a", "comparison__response_b"
    ).get(pk=pk)


def _live_lease(*, project: Project, annotator: User, now: datetime) -> Assignment | None:
    return (
        Assignment.objects.live()
        .filter(project=project, annotator=annotator, expires_at__gt=now)
        .select_related("comparison__prompt", "comparison__response_a", "comparison__response_b")
        .order_by("created_at")
        .first()
    )


def _unseen(*, project: Project, annotator: User) -> Exists:
    return Exists(Assignment.objects.filter(comparison=OuterRef("pk"), annotator=annotator))


def _pick_gold(*, project: Project, annotator: User) -> Comparison | None:
    # Gold items are shown to everyone once and never count towards k, so no lock is needed;
    # the partial unique constraint on live leases stops a double lease from two tabs.
    return (
        Comparison.objects.open()
        .filter(project=project, is_gold=True)
        .exclude(_unseen(project=project, annotator=annotator))
        .select_related("prompt", "response_a", "response_b")
        .order_by("id")
        .first()
    )


def _pick_open(*, project: Project, annotator: User) -> Comparison | None:
    return (
        Comparison.objects.open()
        .filter(project=project, is_gold=False, slots_taken__lt=project.overlap_target)
        .exclude(_unseen(project=project, annotator=annotator))
        .order_by("-priority", "slots_taken", "id")
        .select_related("prompt", "response_a", "response_b")
        .select_for_update(skip_locked=True, of=("self",))
        .first()
    )


def comparison_next_for_annotator(
    *, project: Project, annotator: User, now: datetime | None = None
) -> Assignment | None:
    """The annotator's live lease, or a new one on a comparison that still needs votes; None when done."""
    now = now or timezone.now()
    lease = _live_lease(project=project, annotator=annotator, now=now)
    if lease is not None:
        return lease
    if time.monotonic() - _last_sweep.get(project.pk, -RECLAIM_EVERY_SECONDS) >= RECLAIM_EVERY_SECONDS:
        _last_sweep[project.pk] = time.monotonic()
        assignment_reclaim_expired(project=project, now=now)
    lease = _lease_new(project=project, annotator=annotator, now=now)
    if lease is None and assignment_reclaim_expired(project=project, now=now):
        # Nothing free: expired leases (missed by the throttled sweep) may hold the last slots.
        lease = _lease_new(project=project, annotator=annotator, now=now)
    return lease


# PostgreSQL: pick, bump ``slots_taken`` and insert the lease in one statement (one round
# trip on the hottest path). Same semantics as ``_pick_open`` + update + create below:
# FOR UPDATE OF c SKIP LOCKED skips rows another picker holds, and PostgreSQL re-checks
# the WHERE clause on a row that changed since the statement's snapshot.
_LEASE_NEW_POSTGRESQL = """
WITH picked AS (
    SELECT c.id FROM annotate_comparison c
    WHERE c.project_id = %(project)s AND c.status = 'open' AND NOT c.is_gold AND c.slots_taken < %(k)s
      AND NOT EXISTS (
          SELECT 1 FROM annotate_assignment a WHERE a.comparison_id = c.id AND a.annotator_id = %(user)s
      )
    ORDER BY c.priority DESC, c.slots_taken, c.id
    LIMIT 1
    FOR UPDATE OF c SKIP LOCKED
), bumped AS (
    UPDATE annotate_comparison c SET slots_taken = c.slots_taken + 1 FROM picked WHERE c.id = picked.id
    RETURNING c.id
)
INSERT INTO annotate_assignment
    (project_id, comparison_id, annotator_id, flipped, status, skip_reason, created_at, expires_at)
SELECT %(project)s, bumped.id, %(user)s, %(flipped)s, 'live', '', %(now)s, %(expires)s FROM bumped
RETURNING id
"""


def _lease_new(*, project: Project, annotator: User, now: datetime) -> Assignment | None:
    gold = project.gold_rate > 0 and _rng.random() < project.gold_rate
    if not gold and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                _LEASE_NEW_POSTGRESQL,
                {
                    "project": project.pk,
                    "k": project.overlap_target,
                    "user": annotator.pk,
                    "flipped": _rng.random() < 0.5,
                    "now": now,
                    "expires": now + timedelta(seconds=project.lease_ttl_seconds),
                },
            )
            row = cursor.fetchone()
        return _lease_with_content(row[0]) if row else None
    with transaction.atomic():
        comparison = _pick_gold(project=project, annotator=annotator) if gold else None
        if comparison is None:
            comparison = _pick_open(project=project, annotator=annotator)
            if comparison is None:
                return None
            Comparison.objects.filter(pk=comparison.pk).update(slots_taken=F("slots_taken") + 1)
        return Assignment.objects.create(
            project=project,
            comparison=comparison,
            annotator=annotator,
            flipped=_rng.random() < 0.5,
            expires_at=now + timedelta(seconds=project.lease_ttl_seconds),
        )


def _tally(comparison_id: int) -> tuple[str, float | None]:
    """Plurality winner and its share among this comparison's votes; no winner on a tie for first."""
    counts = Counter(Judgment.objects.filter(comparison_id=comparison_id).values_list("choice", flat=True))
    if not counts:
        return "", None
    (top, top_n), *rest = counts.most_common()
    total = sum(counts.values())
    if rest and rest[0][1] == top_n:
        return "", top_n / total
    return top, top_n / total


@dataclass(frozen=True)
class SubmitResult:
    judgment: Judgment
    created: bool  # False when this was a retry of an earlier submit


# Close the lease only if it is the caller's, live and unexpired (STYLE rule 6: a
# conditional update checked by row count); RETURNING saves a read on the hot path.
_CLOSE_LEASE = """
UPDATE annotate_assignment SET status = %s, closed_at = %s
WHERE id = %s AND annotator_id = %s AND status = %s AND expires_at > %s
RETURNING comparison_id, flipped
"""


def _submit_refused(*, assignment_id: int, annotator: User, now: datetime) -> SubmitResult:
    """Why a lease could not be closed: a retry of a submit (answered with the first), or an error."""
    lease = Assignment.objects.filter(pk=assignment_id).first()
    if lease is None or lease.annotator_id != annotator.pk:
        raise NotYourLease("this lease does not exist or belongs to someone else")
    if lease.status == AssignmentStatus.SUBMITTED:
        return SubmitResult(judgment=Judgment.objects.get(assignment=lease), created=False)
    raise LeaseClosed(f"this lease is {'expired' if lease.status == AssignmentStatus.LIVE else lease.status}")


def judgment_submit(
    *,
    assignment_id: int,
    annotator: User,
    choice: str,
    strength: str = "",
    rationale: str = "",
    seconds_spent: float | None = None,
    now: datetime | None = None,
) -> SubmitResult:
    """Record the annotator's verdict on their live lease exactly once; a retry returns the first."""
    now = now or timezone.now()
    if strength and strength not in Strength.values:
        raise InvalidChoice(f"strength must be one of {Strength.values}, got {strength!r}")
    if choice not in DISPLAY_CHOICES:
        raise InvalidChoice(f"choice must be one of {sorted(DISPLAY_CHOICES)}, got {choice!r}")
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                _CLOSE_LEASE,
                [AssignmentStatus.SUBMITTED, now, assignment_id, annotator.pk, AssignmentStatus.LIVE, now],
            )
            row = cursor.fetchone()
        if row is None:
            return _submit_refused(assignment_id=assignment_id, annotator=annotator, now=now)
        comparison_id, flipped = row[0], bool(row[1])
        # Lock the comparison before counting its votes: a concurrent submit on the same
        # comparison waits here, so the tally below (a later statement, hence a fresh
        # READ COMMITTED snapshot) sees every vote committed before ours.
        comparison = (
            Comparison.objects.select_for_update(of=("self",))
            .select_related("project")
            .only("id", "is_gold", "vote_count", "status", "project__overlap_target")
            .get(pk=comparison_id)
        )
        canonical = canonical_choice(display_choice=choice, flipped=flipped)
        judgment = Judgment.objects.create(
            comparison_id=comparison_id,
            annotator=annotator,
            assignment_id=assignment_id,
            choice=canonical,
            strength=strength if canonical in (Choice.A, Choice.B) else "",
            rationale=rationale.strip(),
            seconds_spent=seconds_spent,
            shown_flipped=flipped,
        )
        winner, agreement = _tally(comparison_id)
        votes = comparison.vote_count + 1
        complete = not comparison.is_gold and votes >= comparison.project.overlap_target
        Comparison.objects.filter(pk=comparison_id).update(
            vote_count=votes,
            winner=winner,
            agreement=agreement,
            status=ComparisonStatus.COMPLETE if complete else comparison.status,
        )
    return SubmitResult(judgment=judgment, created=True)


def assignment_skip(*, assignment_id: int, annotator: User, reason: str = "") -> Assignment:
    """Give a live lease back to the pool; the annotator is not offered that comparison again."""
    now = timezone.now()
    with transaction.atomic():
        lease = Assignment.objects.select_for_update().filter(pk=assignment_id).first()
        if lease is None or lease.annotator_id != annotator.pk:
            raise NotYourLease("this lease does not exist or belongs to someone else")
        if lease.status == AssignmentStatus.SKIPPED:
            return lease
        if lease.status != AssignmentStatus.LIVE:
            raise LeaseClosed(f"this lease is {lease.status}")
        lease.status = AssignmentStatus.SKIPPED
        lease.skip_reason = reason.strip()[:500]
        lease.closed_at = now
        lease.save(update_fields=["status", "skip_reason", "closed_at"])
        Comparison.objects.filter(pk=lease.comparison_id, is_gold=False).update(slots_taken=F("slots_taken") - 1)
    return lease
