"""The ``drift`` flag: did an annotator get worse? The best single change-point of their accuracy.

Their votes in time order are scored against a reference (the gold answer on gold items,
elsewhere the majority of the *other* votes on the item), and the split that maximises
the one-sided two-proportion z statistic "earlier accuracy > recent accuracy" is found.
Its p-value is Bonferroni-corrected over the splits tried, so an honest annotator's
random ups and downs are not mistaken for a drop. The votes after the split are the
"recent window" reported as evidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from annotate.aggregation.votes import BoolArray, FloatArray, IntArray


@dataclass(frozen=True)
class DriftResult:
    """Per annotator, the best change-point of their accuracy against the reference (NaN / -1 when none tried)."""

    scored_votes: IntArray
    """Votes that had a reference (gold answer or a strict majority of the other votes)."""
    change_time: FloatArray
    """Time (the caller's `time` units) of the first vote of the recent window."""
    earlier_votes: IntArray
    earlier_accuracy: FloatArray
    recent_votes: IntArray
    recent_accuracy: FloatArray
    recent_gold_votes: IntArray
    """Gold items among the recent window's votes, and the accuracy on them."""
    recent_gold_accuracy: FloatArray
    earlier_gold_accuracy: FloatArray
    p_value: FloatArray
    """Bonferroni-corrected one-sided p-value of the drop at the change-point."""
    flagged: BoolArray
    late: BoolArray
    """(n_votes,) True for the votes of a flagged annotator cast at or after their change-point."""


def _running_sum(values: FloatArray, start: IntArray, w: IntArray) -> FloatArray:
    """Sums of `values` from each annotator's first vote up to each vote (votes sorted by annotator).

    One global cumsum minus the sum before the annotator's start, instead of a cumsum per annotator.
    """
    cum = np.cumsum(values)
    before_start = np.concatenate([[0.0], cum])[start]
    return cum - before_start[w]


def drift_test(
    worker: IntArray,
    correct: BoolArray,
    scored: BoolArray,
    time: FloatArray,
    *,
    n_workers: int,
    on_gold: BoolArray | None = None,
    min_segment: int = 20,
    p_threshold: float = 0.01,
    min_drop: float = 0.3,
) -> DriftResult:
    """Find each annotator's best accuracy change-point over their scored votes in time order (vectorised over all).

    `correct[v]` says whether vote v matched its reference and `scored[v]` whether it had
    one. The split after j of an annotator's n scored votes is tried when both sides hold
    at least `min_segment`; z = (p_before − p_after) / √(p(1−p)(1/n₁ + 1/n₂)).
    """
    n_votes = worker.size
    gold_votes = np.zeros(n_votes, dtype=bool) if on_gold is None else on_gold
    idx = np.flatnonzero(scored)
    order = idx[np.lexsort((time[idx], worker[idx]))]
    w = worker[order]
    c = correct[order].astype(np.float64)
    g = gold_votes[order].astype(np.float64)
    gc = (correct[order] & gold_votes[order]).astype(np.float64)
    count = np.bincount(w, minlength=n_workers)
    start = np.cumsum(count) - count
    rank = np.arange(order.size) - start[w]
    k1 = _running_sum(c, start, w)  # correct among the first rank+1 votes
    n1 = rank + 1.0
    total_correct = np.bincount(w, weights=c, minlength=n_workers)
    n = count[w].astype(np.float64)
    n2 = n - n1
    k2 = total_correct[w] - k1
    valid = (n1 >= min_segment) & (n2 >= min_segment)
    pooled = total_correct[w] / np.maximum(n, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / np.maximum(n2, 1)))
        z = (k1 / n1 - k2 / np.maximum(n2, 1)) / se
    # A perfect or hopeless annotator has no variance: no drift to see.
    z = np.where(valid & (se > 0), z, -np.inf)
    n_splits = np.bincount(w, weights=valid, minlength=n_workers)

    best = np.full(n_workers, -1, dtype=np.int64)
    best_z = np.full(n_workers, -np.inf)
    if order.size:
        # Per annotator, the position of the largest z: sort by (annotator, z) and take each group's last.
        by_z = np.lexsort((z, w))
        last = np.cumsum(count) - 1
        has = count > 0
        pick = by_z[last[has]]
        best[has] = pick
        best_z[has] = z[pick]
    found = np.isfinite(best_z)
    p_value = np.full(n_workers, np.nan)
    p_value[found] = np.minimum(1.0, n_splits[found] * norm.sf(best_z[found]))

    earlier_votes = np.zeros(n_workers, dtype=np.int64)
    recent_votes = np.zeros(n_workers, dtype=np.int64)
    earlier_accuracy = np.full(n_workers, np.nan)
    recent_accuracy = np.full(n_workers, np.nan)
    change_time = np.full(n_workers, np.nan)
    at = best[found]
    earlier_votes[found] = n1[at].astype(np.int64)
    recent_votes[found] = n2[at].astype(np.int64)
    earlier_accuracy[found] = k1[at] / n1[at]
    recent_accuracy[found] = k2[at] / n2[at]
    change_time[found] = time[order[at + 1]]

    # Gold accuracy on each side of the change-point.
    workers_found = np.flatnonzero(found)
    g1 = _running_sum(g, start, w)[at]
    gc1 = _running_sum(gc, start, w)[at]
    g2 = np.bincount(w, weights=g, minlength=n_workers)[workers_found] - g1
    gc2 = np.bincount(w, weights=gc, minlength=n_workers)[workers_found] - gc1
    recent_gold_votes = np.zeros(n_workers, dtype=np.int64)
    recent_gold_accuracy = np.full(n_workers, np.nan)
    earlier_gold_accuracy = np.full(n_workers, np.nan)
    recent_gold_votes[workers_found] = g2.astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        recent_gold_accuracy[workers_found] = np.where(g2 > 0, gc2 / np.maximum(g2, 1), np.nan)
        earlier_gold_accuracy[workers_found] = np.where(g1 > 0, gc1 / np.maximum(g1, 1), np.nan)

    flagged = found & (p_value < p_threshold) & (earlier_accuracy - recent_accuracy >= min_drop)
    late = flagged[worker] & (time >= np.where(flagged, change_time, np.inf)[worker])
    return DriftResult(
        scored_votes=count.astype(np.int64),
        change_time=change_time,
        earlier_votes=earlier_votes,
        earlier_accuracy=earlier_accuracy,
        recent_votes=recent_votes,
        recent_accuracy=recent_accuracy,
        recent_gold_votes=recent_gold_votes,
        recent_gold_accuracy=recent_gold_accuracy,
        earlier_gold_accuracy=earlier_gold_accuracy,
        p_value=p_value,
        flagged=flagged,
        late=late,
    )
