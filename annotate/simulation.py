"""Simulated annotators with a hidden true label, for tests and the aggregation benchmark.

Every vote is drawn at once with NumPy (no loop over votes), so a million votes
take well under a second. The label coding is `annotate.aggregation.labels`.
`flipped[v]` is True when response B was displayed on the left for vote v.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from annotate.aggregation.labels import LABEL_A, LABEL_B, N_LABELS

WORKER_TYPES: Final = ("good", "average", "random", "always_left", "left_biased", "too_fast")
SPAMMER_TYPES: Final = ("random", "always_left")
# Share of each non-spammer type among the non-spammers when only a spammer share is given.
NON_SPAMMER_MIX: Final = {"good": 0.4, "average": 0.4, "left_biased": 0.1, "too_fast": 0.1}
# Prior over (a, b, tie, both_bad): most pairs have a winner, ties and both-bad are rarer.
DEFAULT_PRIOR: Final = (0.4, 0.4, 0.12, 0.08)

# Where an honest mistake goes, given the true label (rows true, columns given; zero diagonal):
# a near-miss is usually "tie", a reversal rarer, "both_bad" rarer still.
MISTAKE_DISTRIBUTION: Final = np.array(
    [
        [0.0, 0.3, 0.5, 0.2],
        [0.3, 0.0, 0.5, 0.2],
        [0.4, 0.4, 0.0, 0.2],
        [0.25, 0.25, 0.5, 0.0],
    ]
)


@dataclass(frozen=True)
class WorkerBehaviour:
    """How one annotator type answers: accuracy range, chance to just pick the left side, time per item."""

    accuracy: tuple[float, float]
    """Per-annotator accuracy drawn uniformly from this range (None-like (0.25, 0.25) = random)."""
    left_pick_rate: tuple[float, float]
    """Per-annotator probability of answering "whatever is on the left", drawn uniformly from this range."""
    median_seconds: float
    """Median seconds per item for the type; each annotator's own median is jittered around it."""
    seconds_sigma: float
    """Log-normal spread of seconds per item within one annotator."""


BEHAVIOURS: Final[Mapping[str, WorkerBehaviour]] = {
    "good": WorkerBehaviour((0.85, 0.95), (0.0, 0.0), 45.0, 0.4),
    "average": WorkerBehaviour((0.65, 0.8), (0.0, 0.0), 30.0, 0.5),
    "random": WorkerBehaviour((0.25, 0.25), (0.0, 0.0), 12.0, 0.5),
    "always_left": WorkerBehaviour((0.25, 0.25), (1.0, 1.0), 4.0, 0.3),
    "left_biased": WorkerBehaviour((0.65, 0.8), (0.3, 0.5), 25.0, 0.5),
    "too_fast": WorkerBehaviour((0.35, 0.5), (0.0, 0.0), 3.0, 0.3),
}


@dataclass(frozen=True)
class SimulatedVotes:
    """Votes as parallel arrays plus the hidden truth they were drawn from."""

    item: npt.NDArray[np.int64]
    worker: npt.NDArray[np.int64]
    label: npt.NDArray[np.int64]
    flipped: npt.NDArray[np.bool_]
    """True when response B was displayed on the left for that vote."""
    seconds: npt.NDArray[np.float64]
    true_label: npt.NDArray[np.int64]
    """(n_items,) hidden true label per item."""
    worker_type: npt.NDArray[np.int64]
    """(n_workers,) index into WORKER_TYPES per worker."""
    confusion: npt.NDArray[np.float64]
    """(n_workers, 4, 4) confusion[w, true, given] of the honest part of each worker's behaviour."""
    left_pick_rate: npt.NDArray[np.float64]
    """(n_workers,) probability that a worker answers "the left one" regardless of content."""

    @property
    def n_items(self) -> int:
        """Number of items (all of them have votes)."""
        return int(self.true_label.size)

    @property
    def n_workers(self) -> int:
        """Number of simulated workers (some may have no votes in tiny simulations)."""
        return int(self.worker_type.size)


def worker_type_counts(n_workers: int, spammer_share: float) -> dict[str, int]:
    """Split `n_workers` into types: `spammer_share` random/always-left, the rest by NON_SPAMMER_MIX; sums to n_workers."""
    if not 0.0 <= spammer_share <= 1.0:
        raise ValueError("spammer_share must lie in [0, 1]")
    n_spammers = round(n_workers * spammer_share)
    counts = {"random": n_spammers // 2, "always_left": n_spammers - n_spammers // 2}
    n_honest = n_workers - n_spammers
    assigned = 0
    for name, share in NON_SPAMMER_MIX.items():
        counts[name] = int(n_honest * share)
        assigned += counts[name]
    counts["average"] += n_honest - assigned
    return counts


def _distinct_assignments(
    rng: np.random.Generator, n_items: int, k: int, activity: npt.NDArray[np.float64]
) -> npt.NDArray[np.int64]:
    """(n_items, k) workers per item, distinct within a row, drawn proportionally to `activity`."""
    n_workers = activity.size
    if k > n_workers:
        raise ValueError(f"votes_per_item ({k}) exceeds the number of workers ({n_workers})")
    probability = activity / activity.sum()
    assignment = rng.choice(n_workers, size=(n_items, k), p=probability)
    # Redraw only the rows holding a repeated worker; each round is vectorised and
    # the number of such rows shrinks geometrically.
    while True:
        ordered = np.sort(assignment, axis=1)
        repeated = np.flatnonzero((ordered[:, 1:] == ordered[:, :-1]).any(axis=1))
        if repeated.size == 0:
            return assignment.astype(np.int64)
        assignment[repeated] = rng.choice(n_workers, size=(repeated.size, k), p=probability)


def simulate_votes(
    *,
    n_items: int,
    votes_per_item: int = 3,
    worker_counts: Mapping[str, int] | None = None,
    n_workers: int = 1000,
    spammer_share: float = 0.2,
    prior: Sequence[float] = DEFAULT_PRIOR,
    seed: int = 0,
) -> SimulatedVotes:
    """Draw `votes_per_item` votes from distinct simulated annotators for each item; same seed, same votes."""
    if worker_counts is None:
        worker_counts = worker_type_counts(n_workers, spammer_share)
    unknown = set(worker_counts) - set(WORKER_TYPES)
    if unknown:
        raise ValueError(f"unknown worker types {sorted(unknown)}; expected {', '.join(WORKER_TYPES)}")
    prior_array = np.asarray(prior, dtype=np.float64)
    if prior_array.shape != (N_LABELS,) or not np.isclose(prior_array.sum(), 1.0):
        raise ValueError("prior must be four probabilities summing to 1")
    rng = np.random.default_rng(seed)

    worker_type = np.repeat(
        np.arange(len(WORKER_TYPES)), [int(worker_counts.get(name, 0)) for name in WORKER_TYPES]
    ).astype(np.int64)
    total_workers = worker_type.size
    behaviours = [BEHAVIOURS[name] for name in WORKER_TYPES]
    accuracy_low = np.array([b.accuracy[0] for b in behaviours])[worker_type]
    accuracy_high = np.array([b.accuracy[1] for b in behaviours])[worker_type]
    accuracy = rng.uniform(accuracy_low, accuracy_high)
    left_low = np.array([b.left_pick_rate[0] for b in behaviours])[worker_type]
    left_high = np.array([b.left_pick_rate[1] for b in behaviours])[worker_type]
    left_pick_rate = rng.uniform(left_low, left_high)
    median_seconds = np.array([b.median_seconds for b in behaviours])[worker_type]
    seconds_sigma = np.array([b.seconds_sigma for b in behaviours])[worker_type]
    worker_median_seconds = median_seconds * np.exp(0.2 * rng.standard_normal(total_workers))

    # Honest part: accuracy on the diagonal, mistakes spread by MISTAKE_DISTRIBUTION;
    # random and always-left workers answer uniformly (their accuracy is 1/4).
    is_uniform = np.isin(worker_type, [WORKER_TYPES.index(name) for name in SPAMMER_TYPES])
    confusion = (
        accuracy[:, None, None] * np.eye(N_LABELS) + (1.0 - accuracy)[:, None, None] * MISTAKE_DISTRIBUTION
    )
    confusion[is_uniform] = 1.0 / N_LABELS
    cumulative = np.cumsum(confusion, axis=2)
    cumulative[:, :, -1] = 1.0

    true_label = rng.choice(N_LABELS, size=n_items, p=prior_array).astype(np.int64)
    # Real pools are uneven: a few people do many items. Log-normal activity gives that tail.
    activity = rng.lognormal(0.0, 0.5, size=total_workers)
    assignment = _distinct_assignments(rng, n_items, votes_per_item, activity)
    item = np.repeat(np.arange(n_items, dtype=np.int64), votes_per_item)
    worker = assignment.ravel()
    n_votes = item.size

    draw = rng.random(n_votes)
    label = (draw[:, None] >= cumulative[worker, true_label[item], :-1]).sum(axis=1).astype(np.int64)
    flipped = rng.random(n_votes) < 0.5
    # "Pick the left one": A when A is on the left (not flipped), B when flipped.
    picks_left = rng.random(n_votes) < left_pick_rate[worker]
    label = np.where(picks_left, np.where(flipped, LABEL_B, LABEL_A), label).astype(np.int64)
    seconds = worker_median_seconds[worker] * np.exp(seconds_sigma[worker] * rng.standard_normal(n_votes))

    return SimulatedVotes(
        item=item,
        worker=worker,
        label=label,
        flipped=flipped,
        seconds=seconds,
        true_label=true_label,
        worker_type=worker_type,
        confusion=confusion,
        left_pick_rate=left_pick_rate,
    )


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
