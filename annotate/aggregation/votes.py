"""The parallel vote arrays every aggregation function takes: a project's votes, and their validation.

Imported judgments (``annotator=None``) are the votes of one "imported" pseudo-annotator.
They count in aggregation (``annotate.aggregation.selection``), but not in agreement,
annotator statistics or flags: an imported verdict is a dataset's label, stored with the
chosen response as A, not a person's judgment with a display order and a time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt

from annotate.aggregation.labels import N_LABELS, NO_WINNER

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class VoteArrays:
    """Votes as int64 arrays of equal length, with the index ranges they were checked against."""

    item: npt.NDArray[np.int64]
    worker: npt.NDArray[np.int64]
    label: npt.NDArray[np.int64]
    n_items: int
    n_workers: int


def _as_index_array(name: str, values: npt.ArrayLike) -> npt.NDArray[np.int64]:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must hold integers, got dtype {array.dtype}")
    return array.astype(np.int64, copy=False)


def _check_range(name: str, array: npt.NDArray[np.int64], upper: int) -> None:
    if array.size and (int(array.min()) < 0 or int(array.max()) >= upper):
        raise ValueError(
            f"{name} values must lie in 0..{upper - 1}, got {int(array.min())}..{int(array.max())}"
        )


def validated_votes(
    item: npt.ArrayLike,
    worker: npt.ArrayLike,
    label: npt.ArrayLike,
    *,
    n_items: int | None = None,
    n_workers: int | None = None,
) -> VoteArrays:
    """Return the votes as int64 arrays, or raise ValueError naming the array that is malformed."""
    item_array = _as_index_array("item", item)
    worker_array = _as_index_array("worker", worker)
    label_array = _as_index_array("label", label)
    if not item_array.shape == worker_array.shape == label_array.shape:
        raise ValueError(
            "item, worker and label must have the same length, got "
            f"{item_array.size}, {worker_array.size} and {label_array.size}"
        )
    if n_items is None:
        n_items = int(item_array.max()) + 1 if item_array.size else 0
    if n_workers is None:
        n_workers = int(worker_array.max()) + 1 if worker_array.size else 0
    _check_range("item", item_array, n_items)
    _check_range("worker", worker_array, n_workers)
    _check_range("label", label_array, N_LABELS)
    return VoteArrays(item_array, worker_array, label_array, n_items, n_workers)


def validated_weights(name: str, weight: npt.ArrayLike | None, n_votes: int) -> npt.NDArray[np.float64]:
    """Return per-vote weights as float64 (ones when None); ValueError if the length or sign is wrong."""
    if weight is None:
        return np.ones(n_votes, dtype=np.float64)
    array = np.asarray(weight, dtype=np.float64)
    if array.shape != (n_votes,):
        raise ValueError(f"{name} must have one value per vote ({n_votes}), got shape {array.shape}")
    if array.size and (not np.all(np.isfinite(array)) or float(array.min()) < 0):
        raise ValueError(f"{name} must be finite and non-negative")
    return array


def item_gold_labels(
    n_items: int, gold_item: npt.ArrayLike | None, gold_label: npt.ArrayLike | None
) -> IntArray:
    """Per item, its gold answer's label code; NO_WINNER for items without one (all of them when no gold is given)."""
    labels = np.full(n_items, NO_WINNER, dtype=np.int64)
    if gold_item is not None and gold_label is not None:
        labels[np.asarray(gold_item, dtype=np.int64)] = np.asarray(gold_label, dtype=np.int64)
    return labels


class VoteSample(Protocol):
    """What aggregation reads from a set of votes: a project's (``ProjectVotes``) or simulated ones."""

    @property
    def item(self) -> IntArray: ...
    @property
    def worker(self) -> IntArray: ...
    @property
    def label(self) -> IntArray: ...
    @property
    def flipped(self) -> BoolArray: ...
    @property
    def seconds(self) -> FloatArray: ...
    @property
    def time(self) -> FloatArray: ...
    @property
    def n_items(self) -> int: ...
    @property
    def n_workers(self) -> int: ...


# The ProjectVotes fields with one entry per vote (the others are per item or per worker).
PER_VOTE: Final = ("item", "worker", "label", "strength", "flipped", "seconds", "day", "time")


@dataclass(frozen=True)
class ProjectVotes:
    """A project's judgments as parallel arrays (one entry per vote) plus per-item and per-worker tables."""

    item: IntArray  # index into comparison_id
    worker: IntArray  # index into annotator_id
    label: IntArray
    strength: IntArray  # Llama 2 margin 0..3, -1 when no strength was given
    flipped: BoolArray  # response B was shown on the left
    seconds: FloatArray  # NaN when unknown
    day: IntArray  # proleptic ordinal of the judgment's UTC date
    time: FloatArray  # POSIX seconds of the judgment: orders each annotator's history
    comparison_id: IntArray  # per item
    response_a_id: IntArray
    response_b_id: IntArray
    is_gold: BoolArray
    gold_label: IntArray  # -1 for non-gold items
    batch: list[str]
    annotator_id: list[int | None]  # per worker; None is the imported pseudo-annotator

    @property
    def n_items(self) -> int:
        return int(self.comparison_id.size)

    @property
    def n_workers(self) -> int:
        return len(self.annotator_id)

    @property
    def imported(self) -> BoolArray:
        """Per vote: True for an imported verdict (the pseudo-annotator's votes)."""
        is_imported = np.asarray([a is None for a in self.annotator_id], dtype=bool)
        return is_imported[self.worker] if self.worker.size else np.zeros(0, dtype=bool)

    def people(self) -> ProjectVotes:
        """Only the votes people cast: imported verdicts left out, worker and item indices unchanged."""
        return self.subset(~self.imported)

    def subset(self, keep: BoolArray) -> ProjectVotes:
        """The same tables with only the votes where ``keep`` is True."""
        return replace(self, **{name: getattr(self, name)[keep] for name in PER_VOTE})


def value_counts(votes: ProjectVotes, keep: BoolArray | None = None) -> npt.NDArray[np.float64]:
    """Per item, how many votes (of those ``keep`` marks) gave each label, as floats."""
    item, label = (votes.item, votes.label) if keep is None else (votes.item[keep], votes.label[keep])
    return (
        np.bincount(item * N_LABELS + label, minlength=votes.n_items * N_LABELS)
        .reshape(votes.n_items, N_LABELS)
        .astype(np.float64)
    )
