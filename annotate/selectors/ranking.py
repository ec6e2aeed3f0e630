"""Bradley–Terry ranking of a project's responses, one scale per connected group of compared responses."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from annotate.aggregation.bradley_terry import bradley_terry_by_component
from annotate.aggregation.labels import (
    LABEL_B,
    LABEL_TIE,
)
from annotate.aggregation.votes import ProjectVotes
from annotate.models import (
    Project,
)
from annotate.selectors.votes import project_votes


@dataclass(frozen=True)
class RankedResponse:
    response_id: int
    score: float


@dataclass(frozen=True)
class ResponseRanking:
    """Bradley–Terry over the project's responses: one scale per connected group of compared responses."""

    summary: str
    responses: int
    groups: int
    ranked_groups: int
    lone_pairs: int
    largest: list[RankedResponse]  # the largest ranked group, best first


def response_ranking(*, project: Project, votes: ProjectVotes | None = None) -> ResponseRanking:
    """Rank the responses the votes compare, per connected component; lone pairs are reported, not failed on."""
    votes = votes if votes is not None else project_votes(project=project)
    picks = votes.label <= LABEL_B  # a, b or tie: both_bad says nothing about the order
    picks |= votes.label == LABEL_TIE
    item, label, flipped = votes.item[picks], votes.label[picks], votes.flipped[picks]
    if item.size == 0:
        return ResponseRanking("No votes compare two responses yet.", 0, 0, 0, 0, [])
    ids, index = np.unique(np.concatenate([votes.response_a_id, votes.response_b_id]), return_inverse=True)
    a_index, b_index = index[: votes.n_items], index[votes.n_items :]
    first, second = a_index[item], b_index[item]
    winner = np.where(label == LABEL_B, second, first)
    loser = np.where(label == LABEL_B, first, second)
    left = np.where(flipped, second, first)
    fit = bradley_terry_by_component(
        winner,
        loser,
        n_responses=ids.size,
        tie=label == LABEL_TIE,
        left=left,
        annotator=votes.worker[picks],
        n_annotators=votes.n_workers,
    )
    ranked = sorted(fit.ranked, key=lambda c: -c.responses.size)
    largest: list[RankedResponse] = []
    if ranked and ranked[0].fit is not None:
        scores = ranked[0].fit.scores
        order = np.argsort(-scores)
        largest = [RankedResponse(int(ids[ranked[0].responses[k]]), float(scores[k])) for k in order]
    return ResponseRanking(
        summary=fit.summary(),
        responses=sum(c.responses.size for c in fit.components),
        groups=len(fit.components),
        ranked_groups=len(fit.ranked),
        lone_pairs=len(fit.unranked),
        largest=largest,
    )
