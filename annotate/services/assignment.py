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

import json
import random
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.contrib.auth.models import User
from django.db import connection, models, transaction
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
    Prompt,
    Response,
    Strength,
)
from annotate.services.errors import InvalidChoice, LeaseClosed, NotYourLease

# What the annotator pressed, in screen terms: "a" is whatever was shown on the left.
DISPLAY_CHOICES = {"a", "b", "tie", "both_bad"}
_SWAP = {Choice.A: Choice.B, Choice.B: Choice.A}

_rng = random.SystemRandom()
_M = TypeVar("_M", bound=models.Model)

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
    if time.monotonic() - _last_sweep.get(project.pk, -RECLAIM_EVERY_SECONDS) >= RECLAIM_EVERY_SECONDS:
        _last_sweep[project.pk] = time.monotonic()
        assignment_reclaim_expired(project=project, now=now)
    gold = project.gold_rate > 0 and _rng.random() < project.gold_rate
    if not gold and connection.vendor == "postgresql":
        lease = _lease_new_postgresql(project=project, annotator=annotator, now=now)
        if lease is not None:
            return lease
    lease = _live_lease(project=project, annotator=annotator, now=now)
    if lease is not None:
        return lease
    lease = _lease_new(project=project, annotator=annotator, now=now, gold=gold)
    if lease is None and assignment_reclaim_expired(project=project, now=now):
        # Nothing free: expired leases (missed by the throttled sweep) may hold the last slots.
        lease = _lease_new(project=project, annotator=annotator, now=now, gold=gold)
    return lease
    if time.monotonic() - _last_sweep.get(project.pk, -RECLAIM_EVERY_SECONDS) >= RECLAIM_EVERY_SECONDS:
        _last_sweep[project.pk] = time.monotonic()
        assignment_reclaim_expired(project=project, now=now)
    lease = _lease_new(project=project, annotator=annotator, now=now)
    if lease is None and assignment_reclaim_expired(project=project, now=now):
        # Nothing free: expired leases (missed by the throttled sweep) may hold the last slots.
        lease = _lease_new(project=project, annotator=annotator, now=now)
    return lease


# PostgreSQL: pick, bump ``slots_taken``, insert the lease and return what the page shows,
# in one statement (one round trip on the hottest path). Same semantics as the portable
# path below: FOR UPDATE OF c SKIP LOCKED skips rows another picker holds, and PostgreSQL
# re-checks the WHERE clause on a row that changed since the statement's snapshot. It
# picks nothing while the annotator holds a live lease; the caller then returns that one.
_LEASE_NEW_POSTGRESQL = """
WITH picked AS (
    SELECT c.id FROM annotate_comparison c
    WHERE c.project_id = %(project)s AND c.status = 'open' AND NOT c.is_gold AND c.slots_taken < %(k)s
      AND NOT EXISTS (
          SELECT 1 FROM annotate_assignment a WHERE a.comparison_id = c.id AND a.annotator_id = %(user)s
      )
      AND NOT EXISTS (
          SELECT 1 FROM annotate_assignment l
          WHERE l.annotator_id = %(user)s AND l.project_id = %(project)s AND l.status = 'live'
            AND l.expires_at > %(now)s
      )
    ORDER BY c.priority DESC, c.slots_taken, c.id
    LIMIT 1
    FOR UPDATE OF c SKIP LOCKED
), bumped AS (
    UPDATE annotate_comparison c SET slots_taken = c.slots_taken + 1 FROM picked WHERE c.id = picked.id
    RETURNING c.id, c.prompt_id, c.response_a_id, c.response_b_id
), lease AS (
    INSERT INTO annotate_assignment
        (project_id, comparison_id, annotator_id, flipped, status, skip_reason, created_at, expires_at)
    SELECT %(project)s, bumped.id, %(user)s, %(flipped)s, 'live', '', %(now)s, %(expires)s FROM bumped
    RETURNING id, comparison_id
)
SELECT lease.id, bumped.id, bumped.prompt_id, p.content, bumped.response_a_id, ra.text, bumped.response_b_id, rb.text
FROM lease
JOIN bumped ON bumped.id = lease.comparison_id
JOIN annotate_prompt p ON p.id = bumped.prompt_id
JOIN annotate_response ra ON ra.id = bumped.response_a_id
JOIN annotate_response rb ON rb.id = bumped.response_b_id
"""


def _run(sql: str, params: Sequence[Any] | Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """Run one of the serving path's own statements and return its rows.

    On PostgreSQL it is prepared on the connection (psycopg ``prepare=True``): the pick
    statement takes longer to plan than to run, and these statements run on every
    request. Django's own queries keep client-side binding, which the bulk import needs.
    """
    if connection.vendor == "postgresql":
        import psycopg

        connection.ensure_connection()
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(sql, params, prepare=True)
            return cursor.fetchall() if cursor.description else []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def _loaded(instance: _M) -> _M:
    """Mark an instance built from our own SELECT as loaded from the database."""
    instance._state.adding = False
    instance._state.db = "default"
    return instance


def _lease_new_postgresql(*, project: Project, annotator: User, now: datetime) -> Assignment | None:
    flipped = _rng.random() < 0.5
    expires_at = now + timedelta(seconds=project.lease_ttl_seconds)
    rows = _run(
        _LEASE_NEW_POSTGRESQL,
        {
            "project": project.pk,
            "k": project.overlap_target,
            "user": annotator.pk,
            "flipped": flipped,
            "now": now,
            "expires": expires_at,
        },
    )
    if not rows:
        return None
    lease_id, comparison_id, prompt_id, content, a_id, a_text, b_id, b_text = rows[0]
    # Django loads jsonb as text and lets JSONField parse it; a raw cursor has to do the same.
    prompt = _loaded(Prompt(id=prompt_id, project_id=project.pk, content=json.loads(content)))
    comparison = _loaded(
        Comparison(
            id=comparison_id,
            project=project,
            prompt=prompt,
            response_a=_loaded(Response(id=a_id, prompt=prompt, text=a_text)),
            response_b=_loaded(Response(id=b_id, prompt=prompt, text=b_text)),
        )
    )
    return _loaded(
        Assignment(
            id=lease_id,
            project=project,
            comparison=comparison,
            annotator=annotator,
            flipped=flipped,
            status=AssignmentStatus.LIVE,
            created_at=now,
            expires_at=expires_at,
        )
    )


def _lease_new(*, project: Project, annotator: User, now: datetime, gold: bool) -> Assignment | None:
    """The portable pick: gold items, SQLite, and the end of a project on PostgreSQL."""
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


def _plurality(counts: dict[str, int]) -> tuple[str, float | None]:
    """Plurality winner and its share of the votes; no winner on a tie for first."""
    if not counts:
        return "", None
    (top, top_n), *rest = Counter(counts).most_common()
    total = sum(counts.values())
    if rest and rest[0][1] == top_n:
        return "", top_n / total
    return top, top_n / total


_COMPARISON_FOR_VOTE = """
SELECT c.is_gold, c.vote_count, c.status, p.overlap_target
FROM annotate_comparison c JOIN annotate_project p ON p.id = c.project_id WHERE c.id = %s"""
_INSERT_JUDGMENT = """
INSERT INTO annotate_judgment
    (comparison_id, annotator_id, assignment_id, choice, strength, rationale, seconds_spent, shown_flipped,
     is_imported, created_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, false, %s) RETURNING id"""
_TALLY = "SELECT choice, count(*) FROM annotate_judgment WHERE comparison_id = %s GROUP BY choice"
_COUNT_VOTE = "UPDATE annotate_comparison SET vote_count = %s, winner = %s, agreement = %s, status = %s WHERE id = %s"


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
        closed = _run(
            _CLOSE_LEASE,
            [str(AssignmentStatus.SUBMITTED), now, assignment_id, annotator.pk, str(AssignmentStatus.LIVE), now],
        )
        if not closed:
            return _submit_refused(assignment_id=assignment_id, annotator=annotator, now=now)
        comparison_id, flipped = closed[0][0], bool(closed[0][1])
        canonical = canonical_choice(display_choice=choice, flipped=flipped)
        # Lock the comparison before counting its votes: a concurrent submit on the same
        # comparison waits here, so the tally below (a later statement, hence a fresh
        # READ COMMITTED snapshot) sees every vote committed before ours.
        lock = " FOR UPDATE OF c" if connection.features.has_select_for_update_of else ""
        is_gold, vote_count, status, overlap_target = _run(_COMPARISON_FOR_VOTE + lock, [comparison_id])[0]
        judgment = Judgment(
            comparison_id=comparison_id,
            annotator=annotator,
            assignment_id=assignment_id,
            choice=str(canonical),
            strength=strength if canonical in (Choice.A, Choice.B) else "",
            rationale=rationale.strip(),
            seconds_spent=seconds_spent,
            shown_flipped=flipped,
            created_at=now,
        )
        judgment.pk = _run(
            _INSERT_JUDGMENT,
            [comparison_id, annotator.pk, assignment_id, judgment.choice, judgment.strength,
             judgment.rationale, seconds_spent, flipped, now],
        )[0][0]  # fmt: skip
        _loaded(judgment)
        winner, agreement = _plurality(dict(_run(_TALLY, [comparison_id])))
        votes = vote_count + 1
        if not is_gold and votes >= overlap_target:
            status = ComparisonStatus.COMPLETE
        _run(_COUNT_VOTE, [votes, winner, agreement, str(status), comparison_id])
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
