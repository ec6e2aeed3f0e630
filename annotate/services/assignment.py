"""Serving comparisons to annotators: leases, gold mixing, reclaim. What they answer is ``services.judgments``.

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
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from annotate.db import loaded, rows_prepared, sql_statement
from annotate.models import Assignment, AssignmentStatus, Comparison, Project, Prompt, Response

_rng = random.SystemRandom()

# Reclaiming on every request would add a transaction to the hot path; expired leases
# are rare, so each process sweeps a project at most this often (the beat task
# ``annotate.reclaim_expired_leases`` sweeps every project once a minute as well).
RECLAIM_EVERY_SECONDS = 5.0
_last_sweep: dict[int, float] = {}

# The statements of the PostgreSQL fast path, loaded once from annotate/sql/ (read the files to
# see what runs; tests/annotate/test_sql_statements.py checks that it is what runs). Pick an open
# comparison and lease it, in one statement (one round trip on the hottest path):
LEASE_NEW_SQL = sql_statement("lease_new")


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


def _seen_by(annotator: User) -> Exists:
    """Whether the annotator ever held a lease on the comparison (of the outer query)."""
    return Exists(Assignment.objects.filter(comparison=OuterRef("pk"), annotator=annotator))


def _pick_gold(*, project: Project, annotator: User) -> Comparison | None:
    # Gold items are shown to everyone once and never count towards k, so no lock is needed;
    # the partial unique constraint on live leases stops a double lease from two tabs.
    return (
        Comparison.objects.open()
        .filter(project=project, is_gold=True)
        .exclude(_seen_by(annotator))
        .select_related("prompt", "response_a", "response_b")
        .order_by("id")
        .first()
    )


def _pick_open(*, project: Project, annotator: User) -> Comparison | None:
    return (
        Comparison.objects.open()
        .filter(project=project, is_gold=False, slots_taken__lt=project.overlap_target)
        .exclude(_seen_by(annotator))
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
    lease_sweep_now_and_then(project=project, now=now)
    gold = _gold_turn(project)
    if not gold and connection.vendor == "postgresql":
        lease = _lease_new_postgresql(project=project, annotator=annotator, now=now)
        if lease is not None:
            return lease
    return lease_next_portable(project=project, annotator=annotator, now=now, gold=gold)


def lease_sweep_now_and_then(*, project: Project | int, now: datetime) -> None:
    """Reclaim the project's expired leases if this process has not done so for a while."""
    project_id = project if isinstance(project, int) else project.pk
    if time.monotonic() - _last_sweep.get(project_id, -RECLAIM_EVERY_SECONDS) >= RECLAIM_EVERY_SECONDS:
        _last_sweep[project_id] = time.monotonic()
        if isinstance(project, int):
            project = Project.objects.get(pk=project_id)
        assignment_reclaim_expired(project=project, now=now)


def _gold_turn(project: Project) -> bool:
    """Whether this pick serves a gold item, at the project's gold rate."""
    return project.gold_rate > 0 and _rng.random() < project.gold_rate


def lease_next_portable(*, project: Project, annotator: User, now: datetime, gold: bool) -> Assignment | None:
    lease = _live_lease(project=project, annotator=annotator, now=now)
    if lease is not None:
        return lease
    lease = _lease_new(project=project, annotator=annotator, now=now, gold=gold)
    if lease is None and assignment_reclaim_expired(project=project, now=now):
        # Nothing free: expired leases (missed by the throttled sweep) may hold the last slots.
        lease = _lease_new(project=project, annotator=annotator, now=now, gold=gold)
    return lease


def _pick_params(*, project: Project, annotator: User, now: datetime) -> dict[str, Any]:
    return {
        "project": project.pk,
        "k": project.overlap_target,
        "user": annotator.pk,
        "flipped": _rng.random() < 0.5,
        "now": now,
        "expires": now + timedelta(seconds=project.lease_ttl_seconds),
    }


def _lease_new_postgresql(*, project: Project, annotator: User, now: datetime) -> Assignment | None:
    params = _pick_params(project=project, annotator=annotator, now=now)
    rows = rows_prepared(LEASE_NEW_SQL, params)
    return lease_from_row(rows[0], project=project, annotator=annotator, params=params) if rows else None


def lease_from_row(
    row: Sequence[Any], *, project: Project | None, annotator: User, params: dict[str, Any]
) -> Assignment:
    """The new lease, from the lease columns of lease_new.sql; without ``project``, set ``project_id`` on it."""
    lease_id, comparison_id, prompt_id, content, a_id, a_text, b_id, b_text, expires_at = row
    # Django loads jsonb as text and lets JSONField parse it; a raw cursor has to do the same.
    prompt = loaded(Prompt(id=prompt_id, content=json.loads(content)))
    comparison = loaded(
        Comparison(
            id=comparison_id,
            prompt=prompt,
            response_a=loaded(Response(id=a_id, prompt=prompt, text=a_text)),
            response_b=loaded(Response(id=b_id, prompt=prompt, text=b_text)),
        )
    )
    lease = loaded(
        Assignment(
            id=lease_id,
            comparison=comparison,
            annotator=annotator,
            flipped=params["flipped"],
            status=AssignmentStatus.LIVE,
            created_at=params["now"],
            expires_at=expires_at,
        )
    )
    if project is not None:
        prompt.project = comparison.project = lease.project = project
    return lease


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
