"""Step 7: once the round's comparisons have their votes, the human win rate and the version ladder."""

from __future__ import annotations

from typing import Any

from django.db.models import F

from alignment.models import AlignmentRound, ModelVersion, VersionKind
from alignment.services.rounds import StepOutcome
from alignment.stats import version_ladder, wilson
from annotate.models import Choice, Comparison, ComparisonStatus

# --- 7. collecting -----------------------------------------------------------------------------------


def round_comparisons(round_: AlignmentRound) -> Any:
    return Comparison.objects.filter(project=round_.project, batch=round_.batch)


def collect_step(round_: AlignmentRound) -> StepOutcome | None:
    """Done once every comparison the round made has its votes; until then, nothing."""
    if round_comparisons(round_).filter(status=ComparisonStatus.OPEN).exists():
        return None
    return collect_outcome(round_, final=False)


def collect_outcome(round_: AlignmentRound, *, final: bool) -> StepOutcome:
    """The human win rate of the round's policy over its start policy, and the ladder of every policy version."""
    new, start = round_.policy_version_id, round_.start_policy_id
    games = model_games(round_.project_id)
    head = [(w, lo, tie) for w, lo, tie in games if {w, lo} == {new, start}]
    wins = sum(0.5 if tie else 1.0 for w, _, tie in head if tie or w == new)
    human = wilson(wins, len(head))
    versions = list(
        ModelVersion.objects.filter(project_id=round_.project_id, kind=VersionKind.POLICY)
        .order_by("number")
        .values_list("pk", flat=True)
    )
    ladder = version_ladder(games, versions)
    numbers = dict(ModelVersion.objects.filter(pk__in=versions).values_list("pk", "number"))
    total = round_comparisons(round_).count()
    voted = round_comparisons(round_).exclude(status=ComparisonStatus.OPEN).count()
    return StepOutcome(
        metrics={
            "human_win_rate": human.as_dict(),
            "ladder": {str(numbers[v]): s for v, s in ladder.items()},
            "comparisons": total,
            "completed": voted,
            "closed_early": final and voted < total,
        }
    )


def model_games(project_id: int) -> list[tuple[int, int, bool]]:
    """(winner version, loser version, tie) of every voted comparison between two different policy versions."""
    rows = (
        Comparison.objects.filter(
            project_id=project_id,
            response_a__model_version__isnull=False,
            response_b__model_version__isnull=False,
            winner__in=[Choice.A, Choice.B, Choice.TIE],
        )
        .exclude(response_a__model_version=F("response_b__model_version"))
        .values_list("winner", "response_a__model_version", "response_b__model_version")
    )
    games = []
    for winner, a, b in rows:
        if winner == Choice.B:
            a, b = b, a
        games.append((a, b, winner == Choice.TIE))
    return games
