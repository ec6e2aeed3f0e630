"""The majority of the *other* votes on an item: the reference that needs no gold.

Drift scores votes against it where an item has no gold answer, the agreement page
reports each annotator's agreement with it, and collusion counts a pair as "against the
others" from the same per-item label counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from annotate.aggregation.labels import N_LABELS, NO_WINNER
from annotate.aggregation.votes import BoolArray, FloatArray, IntArray


def label_counts(item: IntArray, label: IntArray, n_items: int) -> IntArray:
    """(n_items, 4): how many of the votes on each item gave each label."""
    return np.bincount(item * N_LABELS + label, minlength=n_items * N_LABELS).reshape(n_items, N_LABELS)


def leave_one_out_majority(item: IntArray, label: IntArray, n_items: int) -> IntArray:
    """Per vote, the strict majority label of the *other* votes on its item; NO_WINNER when none."""
    counts = label_counts(item, label, n_items)
    others = counts[item].copy()
    others[np.arange(item.size), label] -= 1
    top = others.max(axis=1)
    unique_top = (others == top[:, None]).sum(axis=1) == 1
    return np.where((top > 0) & unique_top, others.argmax(axis=1), NO_WINNER).astype(np.int64)


@dataclass(frozen=True)
class OthersAgreement:
    """Per annotator, how their votes compare with the majority of the *other* votes on each item."""

    scored: IntArray
    """Votes on items where the other votes have a strict majority."""
    agreeing: IntArray
    """Of those, votes equal to it."""
    no_consensus: IntArray
    """Votes on items where the other votes are split (no strict majority): neither agreement nor not."""

    @property
    def share(self) -> FloatArray:
        return np.divide(
            self.agreeing, self.scored, out=np.full(self.scored.shape, np.nan), where=self.scored > 0
        )


def agreement_with_others(
    item: IntArray,
    worker: IntArray,
    label: IntArray,
    *,
    n_items: int,
    n_workers: int,
    skip: BoolArray | None = None,
) -> OthersAgreement:
    """Each annotator's agreement with the leave-one-out majority of the other votes, over the votes not in `skip`.

    Leaving the annotator's own vote out is what makes this honest with two votes per
    item: counting it, a split pair has no majority and drops out, and everyone agrees
    with the "consensus" on every item that remains.
    """
    reference = leave_one_out_majority(item, label, n_items)
    others = np.bincount(item, minlength=n_items)[item] - 1
    use = np.ones(item.size, dtype=bool) if skip is None else ~skip
    scored = use & (reference != NO_WINNER)
    split = use & (reference == NO_WINNER) & (others > 0)
    return OthersAgreement(
        scored=np.bincount(worker, weights=scored, minlength=n_workers).astype(np.int64),
        agreeing=np.bincount(worker, weights=scored & (label == reference), minlength=n_workers).astype(
            np.int64
        ),
        no_consensus=np.bincount(worker, weights=split, minlength=n_workers).astype(np.int64),
    )
