"""Majority vote per item, with an agreement threshold and optional strength weights."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from annotate.aggregation.labels import N_LABELS, NO_WINNER
from annotate.aggregation.votes import validated_votes, validated_weights


@dataclass(frozen=True)
class MajorityVoteResult:
    """Per-item outcome of a (weighted) majority vote; every array has one entry per item."""

    winner: npt.NDArray[np.int64]
    """Winning label code, or NO_WINNER (-1) when the item has no votes or its top weight is tied."""
    agreement: npt.NDArray[np.float64]
    """Top label weight / total weight (also for tied items); NaN for items without votes."""
    votes: npt.NDArray[np.int64]
    """Number of votes on the item (unweighted)."""
    passes: npt.NDArray[np.bool_]
    """True where there is a winner and its agreement share is at least the threshold."""
    label_weight: npt.NDArray[np.float64]
    """(n_items, 4) summed vote weight per label."""


def majority_vote(
    item: npt.ArrayLike,
    label: npt.ArrayLike,
    *,
    n_items: int | None = None,
    weight: npt.ArrayLike | None = None,
    threshold: float = 0.5,
) -> MajorityVoteResult:
    """Return each item's majority label, agreement share and whether it passes `threshold`; ties stay undecided."""
    item_array = np.asarray(item)
    votes = validated_votes(item_array, np.zeros(item_array.shape, dtype=np.int64), label, n_items=n_items)
    weights = validated_weights("weight", weight, votes.item.size)
    label_weight = (
        np.bincount(votes.item * N_LABELS + votes.label, weights=weights, minlength=votes.n_items * N_LABELS)
        .reshape(votes.n_items, N_LABELS)
        .astype(np.float64, copy=False)
    )
    vote_count = np.bincount(votes.item, minlength=votes.n_items).astype(np.int64)
    total = label_weight.sum(axis=1)
    top = label_weight.max(axis=1)
    # A tie for first place is reported as undecided: breaking it by label order
    # would silently favour "a" over "b", which is exactly the bias we measure.
    # Weights are floats, so "tied" allows a relative rounding slack of 1e-12.
    n_at_top = (label_weight >= top[:, None] * (1.0 - 1e-12)).sum(axis=1)
    decided = (total > 0) & (n_at_top == 1)
    winner = np.where(decided, label_weight.argmax(axis=1), NO_WINNER).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        agreement = np.where(total > 0, top / np.where(total > 0, total, 1.0), np.nan)
    passes = decided & (agreement >= threshold)
    return MajorityVoteResult(
        winner=winner, agreement=agreement, votes=vote_count, passes=passes, label_weight=label_weight
    )
