"""What an annotator does with a lease: submit a verdict (exactly once), skip it, or undo a submit.

Submit closes the lease with a conditional update, then stores the judgment and counts
its vote (assignment before comparison, the lock order of ``services.assignment``); on
PostgreSQL it is one statement that can also lease the next comparison.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import F
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
    Strength,
)
from annotate.services.assignment import (
    comparison_next_for_annotator,
    lease_from_row,
    lease_next_portable,
    lease_sweep_now_and_then,
)
from annotate.services.errors import InvalidChoice, InvalidText, LeaseClosed, NotYourLease

# What the annotator pressed, in screen terms: "a" is whatever was shown on the left.
DISPLAY_CHOICES = {"a", "b", "tie", "both_bad"}
_SWAP = {Choice.A: Choice.B, Choice.B: Choice.A}

_rng = random.SystemRandom()

# The limits of the free-text fields, for pages and the API alike (the API's serializers say the same).
RATIONALE_MAX_LENGTH = 10_000
SKIP_REASON_MAX_LENGTH = 500

# Submit a verdict, guarded like ``access.lease_project``, then (``lease_next``) the pick of
# lease_new.sql, in one statement (annotate/sql/; tests/annotate/test_sql_statements.py checks it):
SUBMIT_AND_LEASE_NEXT_SQL = sql_statement("submit_and_lease_next", may_annotate=access.may_annotate_sql())


def canonical_choice(*, display_choice: str, flipped: bool) -> Choice:
    """Undo the display flip: the choice in terms of the comparison's response_a/response_b."""
    if display_choice not in DISPLAY_CHOICES:
        raise InvalidChoice(f"choice must be one of {sorted(DISPLAY_CHOICES)}, got {display_choice!r}")
    choice = Choice(display_choice)
    return _SWAP.get(choice, choice) if flipped else choice


def vote_plurality(counts: dict[str, int]) -> tuple[str, float | None]:
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


def lease_access_check(*, assignment_id: int, annotator: User, project: Project | None) -> None:
    """NotYourLease unless the rule of ``access.lease_project`` lets ``annotator`` use this lease."""
    if access.lease_project(user=annotator, assignment_id=assignment_id, project=project) is None:
        raise NotYourLease(
            "this lease does not exist, belongs to someone else or to another project, "
            "or you may no longer annotate its project"
        )


def _submit_refused(*, assignment_id: int, annotator: User, project: Project | None) -> SubmitResult:
    """Why a lease could not be closed: a retry of a submit (answered with the first), or an error."""
    lease_access_check(assignment_id=assignment_id, annotator=annotator, project=project)
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
                lease_sweep_now_and_then(project=project_id, now=now)
                lease = lease_from_row(lease_row, project=None, annotator=annotator, params=params)
                lease.project_id = project_id
                return result, lease
            project = Project.objects.get(pk=project_id)
            lease_sweep_now_and_then(project=project, now=now)
            return result, lease_next_portable(
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
        lease_access_check(assignment_id=assignment_id, annotator=annotator, project=project)
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
        comparison.winner, comparison.agreement = vote_plurality(
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
        lease_access_check(assignment_id=assignment_id, annotator=annotator, project=project)
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
