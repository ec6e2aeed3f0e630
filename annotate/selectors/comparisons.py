"""Reads of a project's comparisons: the staff listing, and how many an annotator has left."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

from django.contrib.auth.models import User
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from annotate.models import Assignment, Comparison, Judgment, Project


@dataclass(frozen=True)
class AnnotatorProgress:
    done_today: int
    done_total: int
    left_in_project: int


def annotator_progress(
    *, project: Project, annotator: User, now: datetime | None = None
) -> AnnotatorProgress:
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
        done_today=mine.filter(created_at__gte=midnight).count(),
        done_total=mine.count(),
        left_in_project=left,
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
            Q(prompt__content__icontains=search)
            | Q(response_a__text__icontains=search)
            | Q(response_b__text__icontains=search)
        )
    return qs.order_by("-id")
