"""Reads of an annotator's own judgments: as stored, as their screen showed them, and the one they may undo."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.utils import timezone

from annotate.models import Judgment, Project


def judgment_list_for_annotator(*, annotator: User, project: Project | None = None) -> QuerySet[Judgment]:
    """The annotator's own judgments, newest first."""
    qs = Judgment.objects.filter(annotator=annotator).select_related("comparison__prompt")
    if project is not None:
        qs = qs.filter(comparison__project=project)
    return qs.order_by("-created_at")


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
