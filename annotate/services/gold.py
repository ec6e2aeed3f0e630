"""Gold items: comparisons with a known answer, mixed into annotators' work to measure them.

A gold item is served to every annotator once (``annotate.services.assignment``), only
while it is open, and never counts towards the overlap target; its answer scores the
annotators (``annotate.aggregation.flags``) and it never becomes a training pair. So
marking a comparison gold also reopens it. Made in bulk from the admin's comparison list
(``gold_mark``) or by importing pairs with ``"gold": true`` (``annotate.services.imports``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Final

from django.db import transaction

from annotate import access
from annotate.access import AnyUser
from annotate.models import Choice, Comparison, ComparisonStatus

# A gold answer is the response that must win: a tie or "both bad" key measures little.
GOLD_ANSWERS: Final = (Choice.A, Choice.B)


@dataclass(frozen=True)
class GoldMarked:
    """How many comparisons became gold (or got a new answer), were gold with that answer already, or were refused."""

    marked: int
    unchanged: int
    refused: int  # in projects the user does not administer


def gold_answers_set(*, answers: dict[int, str]) -> int:
    """Make each comparison a gold item with its answer and reopen it; returns how many rows changed."""
    by_answer: dict[str, list[int]] = defaultdict(list)
    for comparison_id, answer in answers.items():
        if answer not in GOLD_ANSWERS:
            raise ValueError(f"a gold answer is 'a' or 'b', got {answer!r}")
        by_answer[answer].append(comparison_id)
    changed = 0
    for answer, ids in by_answer.items():
        changed += (
            Comparison.objects.filter(pk__in=ids)
            .exclude(is_gold=True, gold_answer=answer, status=ComparisonStatus.OPEN)
            .update(is_gold=True, gold_answer=answer, status=ComparisonStatus.OPEN)
        )
    return changed


def gold_mark(*, user: AnyUser, comparison_ids: list[int], answer: str) -> GoldMarked:
    """Mark the listed comparisons of projects ``user`` administers as gold with ``answer``; the rest are refused."""
    if answer not in GOLD_ANSWERS:
        raise ValueError(f"a gold answer is 'a' or 'b', got {answer!r}")
    wanted = set(comparison_ids)
    rows = Comparison.objects.filter(pk__in=wanted)
    if not access.administers_every_project(user):
        rows = rows.filter(project__in=access.projects_administered_by(user))
    with transaction.atomic():
        allowed = list(rows.values_list("pk", flat=True))
        marked = gold_answers_set(answers=dict.fromkeys(allowed, answer))
    return GoldMarked(marked=marked, unchanged=len(allowed) - marked, refused=len(wanted) - len(allowed))
