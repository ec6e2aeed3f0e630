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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from annotate import access
from annotate.db import loaded, rows_prepared, sql_statement
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
from annotate.services.errors import InvalidChoice, InvalidText, LeaseClosed, NotYourLease, UndoRefused

# What the annotator pressed, in screen terms: "a" is whatever was shown on the left.
DISPLAY_CHOICES = {"a", "b", "tie", "both_bad"}
_SWAP = {Choice.A: Choice.B, Choice.B: Choice.A}

_rng = random.SystemRandom()

# The limits of the free-text fields, for pages and the API alike (the API's serializers say the same).
RATIONALE_MAX_LENGTH = 10_000
SKIP_REASON_MAX_LENGTH = 500

# Reclaiming on every request would add a transaction to the hot path; expired leases
# are rare, so each process sweeps a project at most this often (the beat task
# ``annotate.reclaim_expired_leases`` sweeps every project once a minute as well).
RECLAIM_EVERY_SECONDS = 5.0
_last_sweep: dict[int, float] = {}

# The statements of the PostgreSQL fast path, loaded once from annotate/sql/ (read the files to
# see what runs; tests/annotate/test_sql_statements.py checks that it is what runs). Pick an open
# comparison and lease it, in one statement (one round trip on the hottest path):
LEASE_NEW_SQL = sql_statement("lease_new")
# Submit a verdict, guarded like ``access.lease_project``, then (``lease_next``) the same pick:
SUBMIT_AND_LEASE_NEXT_SQL = sql_statement("submit_and_lease_next", may_annotate=access.may_annotate_sql())


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
    _sweep_now_and_then(project=project, now=now)
    gold = _gold_turn(project)
    if not gold and connection.vendor == "postgresql":
        lease = _lease_new_postgresql(project=project, annotator=annotator, now=now)
        if lease is not None:
            return lease
    return _lease_next_portable(project=project, annotator=annotator, now=now, gold=gold)


def _sweep_now_and_then(*, project: Project | int, now: datetime) -> None:
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


def _lease_next_portable(
    *, project: Project, annotator: User, now: datetime, gold: bool
) -> Assignment | None:
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
    return _lease_from_row(rows[0], project=project, annotator=annotator, params=params) if rows else None


def _lease_from_row(
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


def _plurality(counts: dict[str, int]) -> tuple[str, float | None]:
    """Plurality winner and its share of the votes; no winner on a tie for first."""
    counts = {choice: n for choice, n in counts.items() if n}
    if not counts:
        return "", None
    (top, top_n), *rest = Counter(counts).most_common()
    total = sum(counts.values())
    if rest and rest[0][1] == top_n:
        return "", top_n / total
    return top, top_n / total


@dataclass(frozen=True)
class SubmitResult:
    judgment: Judgment
    created: bool  # False when this was a retry of an earlier submit


def _check_lease_access(*, assignment_id: int, annotator: User, project: Project | None) -> None:
    """NotYourLease unless the rule of ``access.lease_project`` lets ``annotator`` use this lease."""
    if access.lease_project(user=annotator, assignment_id=assignment_id, project=project) is None:
        raise NotYourLease(
            "this lease does not exist, belongs to someone else or to another project, "
            "or you may no longer annotate its project"
        )


def _submit_refused(*, assignment_id: int, annotator: User, project: Project | None) -> SubmitResult:
    """Why a lease could not be closed: a retry of a submit (answered with the first), or an error."""
    _check_lease_access(assignment_id=assignment_id, annotator=annotator, project=project)
    return _closed_lease_answer(assignment_id=assignment_id)


def _closed_lease_answer(*, assignment_id: int) -> SubmitResult:
    """The caller's lease is not live: the first judgment of a retried submit, or LeaseClosed."""
    lease = Assignment.objects.get(pk=assignment_id)
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
    project: Project | None = None,
    now: datetime | None = None,
) -> SubmitResult:
    """Record the annotator's verdict on their live lease exactly once; a retry returns the first.

    The lease must pass ``access.lease_project`` (the caller's own, in a project they may
    still annotate, and of ``project`` when given: the page's URL names it), else NotYourLease.
    """
    now = now or timezone.now()
    rationale = _check_verdict(choice=choice, strength=strength, rationale=rationale)
    if connection.vendor == "postgresql":
        params = _submit_params(
            assignment_id=assignment_id, annotator=annotator, choice=choice, strength=strength, rationale=rationale,
            seconds_spent=seconds_spent, now=now, project=project, lease_next=False,
        )  # fmt: skip
        rows = rows_prepared(SUBMIT_AND_LEASE_NEXT_SQL, params)
        if not rows:
            return _submit_refused(assignment_id=assignment_id, annotator=annotator, project=project)
        return _submitted_from_row(rows[0][:5], annotator=annotator, params=params)
    return _judgment_submit_portable(
        assignment_id=assignment_id, annotator=annotator, choice=choice, strength=strength, rationale=rationale,
        seconds_spent=seconds_spent, project=project, now=now,
    )  # fmt: skip


def judgment_submit_and_lease_next(
    *,
    assignment_id: int,
    annotator: User,
    choice: str,
    strength: str = "",
    rationale: str = "",
    seconds_spent: float | None = None,
    now: datetime | None = None,
) -> tuple[SubmitResult, Assignment | None]:
    """``judgment_submit`` and then ``comparison_next_for_annotator``: one statement on PostgreSQL.

    This is what an annotator does all day, so on PostgreSQL the submit, the access check
    (``access.may_annotate_sql``, the rule of ``access.lease_project``) and the pick of the
    next comparison share one round trip; gold turns, the end of a project and refused
    submits take the general path. A lease the annotator may not use raises ``NotYourLease``.
    """
    now = now or timezone.now()
    rationale = _check_verdict(choice=choice, strength=strength, rationale=rationale)
    if connection.vendor == "postgresql":
        params = _submit_params(
            assignment_id=assignment_id, annotator=annotator, choice=choice, strength=strength, rationale=rationale,
            seconds_spent=seconds_spent, now=now, project=None, lease_next=True,
        )  # fmt: skip
        rows = rows_prepared(SUBMIT_AND_LEASE_NEXT_SQL, params)
        if rows:
            row = rows[0]
            result = _submitted_from_row(row[:5], annotator=annotator, params=params)
            project_id, gold_rate, lease_row = row[5], row[6], row[7:]
            if lease_row[0] is not None:
                _sweep_now_and_then(project=project_id, now=now)
                lease = _lease_from_row(lease_row, project=None, annotator=annotator, params=params)
                lease.project_id = project_id
                return result, lease
            project = Project.objects.get(pk=project_id)
            _sweep_now_and_then(project=project, now=now)
            return result, _lease_next_portable(
                project=project, annotator=annotator, now=now, gold=params["roll"] < gold_rate
            )
        # Refused: someone else's lease or a lost right (NotYourLease), or a retry / a closed lease.
        result = _submit_refused(assignment_id=assignment_id, annotator=annotator, project=None)
    else:
        result = judgment_submit(
            assignment_id=assignment_id, annotator=annotator, choice=choice, strength=strength, rationale=rationale,
            seconds_spent=seconds_spent, now=now,
        )  # fmt: skip
    project = Project.objects.get(assignments=assignment_id)
    return result, comparison_next_for_annotator(project=project, annotator=annotator, now=now)


def annotation_text_clean(*, field: str, value: str, max_length: int) -> str:
    """``value`` without surrounding blanks, or InvalidText naming ``field``: no NUL, no lone surrogate, not too long.

    PostgreSQL cannot store NUL in text, and UTF-8 cannot encode a lone surrogate; both
    would fail inside the INSERT as a server error. Pages and the API share these rules.
    """
    value = value.strip()
    if "\x00" in value:
        raise InvalidText(f"{field}: must not contain NUL characters")
    if len(value) > max_length:
        raise InvalidText(f"{field}: at most {max_length} characters, got {len(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidText(f"{field}: invalid character at position {exc.start} (a lone surrogate)") from exc
    return value


def _check_verdict(*, choice: str, strength: str, rationale: str) -> str:
    """The rationale, cleaned; InvalidChoice or InvalidText for what cannot be stored."""
    if strength and strength not in Strength.values:
        raise InvalidChoice(f"strength must be one of {Strength.values}, got {strength!r}")
    if choice not in DISPLAY_CHOICES:
        raise InvalidChoice(f"choice must be one of {sorted(DISPLAY_CHOICES)}, got {choice!r}")
    if not rationale:
        return ""
    return annotation_text_clean(field="rationale", value=rationale, max_length=RATIONALE_MAX_LENGTH)


def _submit_params(
    *, assignment_id: int, annotator: User, choice: str, strength: str, rationale: str,
    seconds_spent: float | None, now: datetime, project: Project | None, lease_next: bool,
) -> dict[str, Any]:  # fmt: skip
    """The parameters of submit_and_lease_next.sql; ``roll`` decides whether the next lease is a gold turn."""
    return {
        **access.may_annotate_params(annotator), "now": now, "lease": assignment_id,
        "project": project.pk if project is not None else None,
        "lease_next": lease_next, "roll": _rng.random(), "flipped": _rng.random() < 0.5,
        "choice": canonical_choice(display_choice=choice, flipped=False).value,
        "choice_if_flipped": canonical_choice(display_choice=choice, flipped=True).value,
        "strength": strength if choice in (Choice.A, Choice.B) else "", "rationale": rationale, "seconds": seconds_spent,
    }  # fmt: skip


def _submitted_from_row(row: Sequence[Any], *, annotator: User, params: dict[str, Any]) -> SubmitResult:
    judgment_id, comparison_id, canonical, stored_strength, flipped = row
    judgment = Judgment(
        id=judgment_id, comparison_id=comparison_id, annotator=annotator, assignment_id=params["lease"],
        choice=canonical, strength=stored_strength, rationale=params["rationale"], seconds_spent=params["seconds"],
        shown_flipped=flipped, created_at=params["now"],
    )  # fmt: skip
    return SubmitResult(judgment=loaded(judgment), created=True)


def _judgment_submit_portable(
    *, assignment_id: int, annotator: User, choice: str, strength: str, rationale: str,
    seconds_spent: float | None, project: Project | None, now: datetime,
) -> SubmitResult:  # fmt: skip
    """The same as the PostgreSQL statement, in steps (SQLite serialises the transaction)."""
    with transaction.atomic():
        _check_lease_access(assignment_id=assignment_id, annotator=annotator, project=project)
        closed = Assignment.objects.filter(
            pk=assignment_id, annotator=annotator, status=AssignmentStatus.LIVE, expires_at__gt=now
        ).update(status=AssignmentStatus.SUBMITTED, closed_at=now)
        if not closed:
            return _closed_lease_answer(assignment_id=assignment_id)
        lease = Assignment.objects.select_related("project").get(pk=assignment_id)
        canonical = canonical_choice(display_choice=choice, flipped=lease.flipped)
        comparison = Comparison.objects.select_for_update().get(pk=lease.comparison_id)
        judgment = Judgment.objects.create(
            comparison=comparison, annotator=annotator, assignment=lease, choice=canonical,
            strength=strength if canonical in (Choice.A, Choice.B) else "", rationale=rationale,
            seconds_spent=seconds_spent, shown_flipped=lease.flipped, created_at=now,
        )  # fmt: skip
        field = f"votes_{canonical}"
        setattr(comparison, field, getattr(comparison, field) + 1)
        comparison.vote_count += 1
        comparison.winner, comparison.agreement = _plurality(
            {c: getattr(comparison, f"votes_{c}") for c in Choice.values}
        )
        if not comparison.is_gold and comparison.vote_count >= lease.project.overlap_target:
            comparison.status = ComparisonStatus.COMPLETE
        comparison.save(update_fields=[field, "vote_count", "winner", "agreement", "status"])
    return SubmitResult(judgment=judgment, created=True)


def assignment_skip(
    *, assignment_id: int, annotator: User, reason: str = "", project: Project | None = None
) -> Assignment:
    """Give a live lease back to the pool; the annotator is not offered that comparison again.

    The lease must pass ``access.lease_project`` (and be of ``project`` when given), else NotYourLease.
    """
    reason = (
        annotation_text_clean(field="reason", value=reason, max_length=SKIP_REASON_MAX_LENGTH)
        if reason
        else ""
    )
    now = timezone.now()
    with transaction.atomic():
        lease = Assignment.objects.select_for_update().filter(pk=assignment_id).first()
        if lease is None:
            raise NotYourLease("this lease does not exist or belongs to someone else")
        _check_lease_access(assignment_id=assignment_id, annotator=annotator, project=project)
        if lease.status == AssignmentStatus.SKIPPED:
            return lease
        if lease.status != AssignmentStatus.LIVE:
            raise LeaseClosed(f"this lease is {lease.status}")
        lease.status = AssignmentStatus.SKIPPED
        lease.skip_reason = reason
        lease.closed_at = now
        lease.save(update_fields=["status", "skip_reason", "closed_at"])
        Comparison.objects.filter(pk=lease.comparison_id, is_gold=False).update(
            slots_taken=F("slots_taken") - 1
        )
    return lease


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
    winner and agreement follow from the new counters as ``_plurality`` (and submit's SQL) computes
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
        _check_lease_access(assignment_id=assignment_id, annotator=annotator, project=project)
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
        winner, agreement = _plurality(counts)
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
