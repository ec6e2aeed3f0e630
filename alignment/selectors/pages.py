"""The rounds page's context: the timeline with each round's figures, the round the status box follows,
the charts, the ladder and the versions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from alignment.models import AlignmentRound
from alignment.selectors.figures import RoundFigures, ladder_latest, round_charts, round_figures
from alignment.selectors.rounds import plan_get, round_list, round_unfinished
from alignment.selectors.versions import version_list
from annotate.models import Project


@dataclass(frozen=True)
class TimelineRow:
    round: AlignmentRound
    figures: RoundFigures


def rounds_page(*, project: Project) -> dict[str, Any]:
    """The rounds page's context: timeline, the round the status box follows, charts, ladder and versions."""
    rounds = round_list(project=project)
    ladder_round, rungs = ladder_latest(rounds)
    return {
        "plan": plan_get(project=project),
        "timeline": [TimelineRow(round=r, figures=round_figures(r)) for r in rounds],
        "current": round_unfinished(project=project),
        "charts": round_charts(rounds=rounds) if rounds else {},
        "ladder_round": ladder_round,
        "ladder": rungs,
        "versions": version_list(project=project),
    }
