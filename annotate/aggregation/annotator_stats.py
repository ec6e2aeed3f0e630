"""Per-annotator quality numbers: consensus agreement, left/right bias test, speed, gold accuracy, DS diagonal."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.stats import binom

from annotate.aggregation.labels import N_LABELS, NO_WINNER, is_decisive, picked_left
from annotate.aggregation.votes import item_gold_labels, validated_votes


@dataclass(frozen=True)
class AnnotatorStats:
    """One entry per annotator (index = worker id); NaN where an annotator has no relevant votes."""

    votes: npt.NDArray[np.int64]
    consensus_votes: npt.NDArray[np.int64]
    """Votes on items that have a consensus label (not NO_WINNER)."""
    consensus_agreement: npt.NDArray[np.float64]
    """Share of those votes equal to the consensus (the annotator's own vote is part of the consensus)."""
    left_picks: npt.NDArray[np.int64]
    """Decisive (a/b) votes for the response displayed on the left."""
    right_picks: npt.NDArray[np.int64]
    left_share: npt.NDArray[np.float64]
    position_bias_p_value: npt.NDArray[np.float64]
    """Two-sided exact binomial test of left_picks ~ Bin(left + right, 1/2)."""
    median_seconds: npt.NDArray[np.float64]
    """Over the votes whose time is known (not NaN); NaN for an annotator with none."""
    gold_votes: npt.NDArray[np.int64]
    gold_accuracy: npt.NDArray[np.float64]
    confusion_diagonal: npt.NDArray[np.float64] | None
    """(n_workers, 4) P(answer c | true c) from Dawid–Skene, when a confusion estimate was given."""


def binomial_two_sided_p_value(successes: npt.ArrayLike, trials: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Return the exact two-sided p-value of Bin(trials, 1/2) per entry, equal to scipy's `binomtest`; NaN for 0 trials.

    For p = 1/2 the distribution is symmetric, so the outcomes at least as unlikely
    as k are those at least as far from n/2: p = min(1, 2·P(X ≤ min(k, n−k))).
    One vectorised CDF call replaces a `binomtest` per annotator.
    """
    k = np.asarray(successes, dtype=np.int64)
    n = np.asarray(trials, dtype=np.int64)
    tail = binom.cdf(np.minimum(k, n - k), n, 0.5)
    p_value = np.minimum(1.0, 2.0 * tail)
    # When k = n/2 exactly every outcome is at least as extreme: p = 1.
    p_value = np.where(2 * k == n, 1.0, p_value)
    return np.where(n > 0, p_value, np.nan)


def median_by_group(
    group: npt.NDArray[np.int64], value: npt.NDArray[np.float64], n_groups: int
) -> npt.NDArray[np.float64]:
    """Per group, the median of its values (NaN for a group without any), in one sort."""
    order = np.lexsort((value, group))
    sorted_value = value[order]
    size = np.bincount(group, minlength=n_groups)
    start = np.cumsum(size) - size
    has = size > 0
    low = start + np.maximum(size - 1, 0) // 2
    high = start + size // 2
    median = np.full(n_groups, np.nan)
    median[has] = 0.5 * (sorted_value[low[has]] + sorted_value[np.minimum(high[has], value.size - 1)])
    return median


def _share(numerator: npt.NDArray[np.int64], denominator: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    return np.divide(numerator, denominator, out=np.full(numerator.shape, np.nan), where=denominator > 0)


def annotator_stats(
    item: npt.ArrayLike,
    worker: npt.ArrayLike,
    label: npt.ArrayLike,
    *,
    flipped: npt.ArrayLike,
    seconds: npt.ArrayLike,
    consensus: npt.ArrayLike,
    n_workers: int | None = None,
    gold_item: npt.ArrayLike | None = None,
    gold_label: npt.ArrayLike | None = None,
    confusion: npt.ArrayLike | None = None,
) -> AnnotatorStats:
    """Return per-annotator quality statistics, computed with bincounts over all votes at once.

    `consensus` is the per-item label (NO_WINNER for none), e.g. a majority or
    Dawid–Skene result. `flipped[v]` is True when B was displayed on the left. The
    position test counts only decisive votes (a or b): ties and both_bad say nothing
    about a side. `confusion` is a Dawid–Skene (n_workers, 4, 4) [true, given] estimate.
    """
    consensus_array = np.asarray(consensus, dtype=np.int64)
    votes = validated_votes(item, worker, label, n_items=consensus_array.size, n_workers=n_workers)
    n = votes.n_workers
    flipped_array = np.asarray(flipped, dtype=bool)
    seconds_array = np.asarray(seconds, dtype=np.float64)
    if flipped_array.shape != votes.item.shape or seconds_array.shape != votes.item.shape:
        raise ValueError("flipped and seconds need one entry per vote")
    known_seconds = ~np.isnan(seconds_array)  # NaN: a vote whose time was not recorded (imported, older)

    vote_count = np.bincount(votes.worker, minlength=n)
    item_consensus = consensus_array[votes.item]
    has_consensus = item_consensus != NO_WINNER
    consensus_votes = np.bincount(votes.worker, weights=has_consensus, minlength=n).astype(np.int64)
    agreeing = np.bincount(
        votes.worker, weights=has_consensus & (votes.label == item_consensus), minlength=n
    ).astype(np.int64)

    decisive = is_decisive(votes.label)
    left = picked_left(votes.label, flipped_array)
    left_picks = np.bincount(votes.worker, weights=left, minlength=n).astype(np.int64)
    right_picks = np.bincount(votes.worker, weights=decisive & ~left, minlength=n).astype(np.int64)
    decisive_total = left_picks + right_picks

    gold_votes = np.zeros(n, dtype=np.int64)
    gold_correct = np.zeros(n, dtype=np.int64)
    if gold_item is not None or gold_label is not None:
        if gold_item is None or gold_label is None:
            raise ValueError("gold_item and gold_label must be given together")
        vote_gold = item_gold_labels(consensus_array.size, gold_item, gold_label)[votes.item]
        on_gold = vote_gold != NO_WINNER
        gold_votes = np.bincount(votes.worker, weights=on_gold, minlength=n).astype(np.int64)
        gold_correct = np.bincount(
            votes.worker, weights=on_gold & (votes.label == vote_gold), minlength=n
        ).astype(np.int64)

    diagonal = None
    if confusion is not None:
        confusion_array = np.asarray(confusion, dtype=np.float64)
        if confusion_array.shape != (n, N_LABELS, N_LABELS):
            raise ValueError(f"confusion must have shape ({n}, {N_LABELS}, {N_LABELS})")
        diagonal = np.diagonal(confusion_array, axis1=1, axis2=2).copy()

    return AnnotatorStats(
        votes=vote_count.astype(np.int64),
        consensus_votes=consensus_votes,
        consensus_agreement=_share(agreeing, consensus_votes),
        left_picks=left_picks,
        right_picks=right_picks,
        left_share=_share(left_picks, decisive_total),
        position_bias_p_value=binomial_two_sided_p_value(left_picks, decisive_total),
        median_seconds=median_by_group(votes.worker[known_seconds], seconds_array[known_seconds], n),
        gold_votes=gold_votes,
        gold_accuracy=_share(gold_correct, gold_votes),
        confusion_diagonal=diagonal,
    )
