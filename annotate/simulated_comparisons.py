"""Pairwise comparisons among the responses to one prompt, drawn from a Bradley–Terry model with a left bias.

The Bradley–Terry tests fit these back (``annotate.aggregation.bradley_terry``); crowds of
annotators voting on items are ``annotate.simulation``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class SimulatedComparisons:
    """Pairwise outcomes among responses to one prompt, drawn from a Bradley–Terry model with left bias."""

    winner: npt.NDArray[np.int64]
    loser: npt.NDArray[np.int64]
    left: npt.NDArray[np.int64]
    """Response displayed on the left (equal to winner or loser)."""
    annotator: npt.NDArray[np.int64]
    true_scores: npt.NDArray[np.float64]
    """(n_responses,) centred log-strengths."""
    true_left_bias: npt.NDArray[np.float64]
    """(n_annotators,) additive logit bias towards the left response."""


def simulate_comparisons(
    *,
    true_scores: Sequence[float],
    n_comparisons: int,
    left_bias: Sequence[float],
    seed: int = 0,
) -> SimulatedComparisons:
    """Draw comparisons with P(left wins) = σ(s_left − s_right + b_annotator); one annotator per `left_bias` entry."""
    rng = np.random.default_rng(seed)
    scores = np.asarray(true_scores, dtype=np.float64)
    scores = scores - scores.mean()
    bias = np.asarray(left_bias, dtype=np.float64)
    n_responses = scores.size
    first = rng.integers(0, n_responses, size=n_comparisons)
    # A second, different response: shift by 1..n-1 modulo n.
    second = (first + rng.integers(1, n_responses, size=n_comparisons)) % n_responses
    annotator = rng.integers(0, bias.size, size=n_comparisons)
    logit = scores[first] - scores[second] + bias[annotator]
    left_wins = rng.random(n_comparisons) < 1.0 / (1.0 + np.exp(-logit))
    return SimulatedComparisons(
        winner=np.where(left_wins, first, second).astype(np.int64),
        loser=np.where(left_wins, second, first).astype(np.int64),
        left=first.astype(np.int64),
        annotator=annotator.astype(np.int64),
        true_scores=scores,
        true_left_bias=bias,
    )
