"""Reads. Keyword-only functions named ``<entity>_<what>``; pages and the API render their results."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.contrib.auth.models import User
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from annotate.models import Assignment, Comparison, ComparisonStatus, ImportJob, Judgment, Project


@dataclass(frozen=True)
class AnnotatorProgress:
    done_today: int
    done_total: int
    left_in_project: int


def annotator_progress(*, project: Project, annotator: User, now: datetime | None = None) -> AnnotatorProgress:
    """What the annotator did today and in total, and how many comparisons still need votes."""
    now = now or timezone.now()
    midnight = timezone.make_aware(datetime.combine(timezone.localdate(now), time.min))
    mine = Judgment.objects.filter(annotator=annotator, comparison__project=project)
    seen = Assignment.objects.filter(comparison=OuterRef("pk"), annotator=annotator)
    left = (
        Comparison.objects.open()
        .filter(project=project, is_gold=False, vote_count__lt=project.overlap_target)
        .exclude(Exists(seen))
        .count()
    )
    return AnnotatorProgress(
        done_today=mine.filter(created_at__gte=midnight).count(), done_total=mine.count(), left_in_project=left
    )


def comparison_list(
    *,
    project: Project,
    status: str | None = None,
    is_gold: bool | None = None,
    min_votes: int | None = None,
    winner: str | None = None,
    batch: str | None = None,
    search: str | None = None,
) -> QuerySet[Comparison]:
    """A project's comparisons with the staff listing's filters applied, newest first."""
    qs = Comparison.objects.filter(project=project).select_related("prompt", "response_a", "response_b")
    if status:
        qs = qs.filter(status=status)
    if is_gold is not None:
        qs = qs.filter(is_gold=is_gold)
    if min_votes is not None:
        qs = qs.filter(vote_count__gte=min_votes)
    if winner:
        qs = qs.filter(winner=winner)
    if batch:
        qs = qs.filter(batch=batch)
    if search:
        qs = qs.filter(
            Q(prompt__content__icontains=search) | Q(response_a__text__icontains=search) | Q(response_b__text__icontains=search)
        )
    return qs.order_by("-id")


def judgment_list_for_annotator(*, annotator: User, project: Project | None = None) -> QuerySet[Judgment]:
    """The annotator's own judgments, newest first."""
    qs = Judgment.objects.filter(annotator=annotator).select_related("comparison__prompt")
    if project is not None:
        qs = qs.filter(comparison__project=project)
    return qs.order_by("-created_at")


def project_counts(*, project: Project) -> dict[str, int]:
    """Comparisons by status and judgments in total, for dashboards."""
    comparisons = Comparison.objects.filter(project=project)
    return {
        "comparisons": comparisons.count(),
        "open": comparisons.filter(status=ComparisonStatus.OPEN).count(),
        "complete": comparisons.filter(status=ComparisonStatus.COMPLETE).count(),
        "gold": comparisons.filter(is_gold=True).count(),
        "judgments": Judgment.objects.filter(comparison__project=project).count(),
    }


def import_job_list(*, project: Project) -> QuerySet[ImportJob]:
    """A project's imports, newest first."""
    return ImportJob.objects.filter(project=project).order_by("-created_at")


# What the annotator pressed, in the words of the task page's buttons (screen terms: "a" is the left one).
_SHOWN_VERDICT = {"a": "A is better", "b": "B is better", "tie": "Tie", "both_bad": "Both bad"}
_SWAPPED = {"a": "b", "b": "a"}


@dataclass(frozen=True)
class JudgmentAsShown:
    """One of the annotator's judgments as their screen showed it: letters and texts in the displayed order."""

    judgment: Judgment
    choice: str  # in screen terms: "a" is the response that was shown on the left, as A
    verdict: str
    text_a: str
    text_b: str


def judgment_list_as_shown(*, annotator: User, project: Project, limit: int = 200) -> list[JudgmentAsShown]:
    """The annotator's newest judgments in ``project``, undoing the display flip so each reads as it was judged.

    Judgments store canonical letters (``response_a``/``response_b``); a judgment shown flipped
    had response B on the left, as "A", so its letter and its texts are swapped back here.
    """
    rows = []
    judgments = judgment_list_for_annotator(annotator=annotator, project=project).select_related(
        "comparison__response_a", "comparison__response_b"
    )[:limit]
    for judgment in judgments:
        comparison, flipped = judgment.comparison, judgment.shown_flipped
        choice = _SWAPPED.get(judgment.choice, judgment.choice) if flipped else judgment.choice
        left, right = (
            (comparison.response_b, comparison.response_a)
            if flipped
            else (comparison.response_a, comparison.response_b)
        )
        rows.append(
            JudgmentAsShown(
                judgment=judgment,
                choice=choice,
                verdict=_SHOWN_VERDICT.get(choice, choice),
                text_a=left.text,
                text_b=right.text,
            )
        )
    return rows


def judgment_undoable(
    *, annotator: User, assignment_id: int, window_seconds: int, now: datetime | None = None
) -> Judgment | None:
    """The caller's judgment on this lease if it is young enough to offer its undo (the service decides the rest)."""
    now = now or timezone.now()
    return (
        Judgment.objects.filter(
            assignment_id=assignment_id,
            annotator=annotator,
            created_at__gt=now - timedelta(seconds=window_seconds),
        )
        .only("id", "assignment_id", "created_at")
        .first()
    )
