"""Simulated annotators with a hidden true label, for tests and the aggregation benchmark.

Every vote is drawn at once with NumPy (no loop over votes), so a million votes
take well under a second. The label coding is `annotate.aggregation.labels`.
`flipped[v]` is True when response B was displayed on the left for vote v.

Besides honest noise and spammers, three adversarial crowd types:

* ``drifting``: accurate for the first part of their own votes (in time order), then
  careless (near-random) for the rest; `drift_at` holds where each one turns.
* ``colluding``: accounts in groups that take the majority of an item's slots together
  and all give the same answer, usually wrong; `group` holds each one's group.
* ``position_biased``: honest but picks the left side with a per-annotator probability
  drawn from a wide range, so some are barely biased and some heavily.

The draws for these come from a second generator seeded from `seed`, so a crowd
without them gets exactly the votes it got before they existed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from annotate.aggregation.labels import LABEL_A, LABEL_B, N_LABELS

WORKER_TYPES: Final = (
    "good",
    "average",
    "random",
    "always_left",
    "left_biased",
    "too_fast",
    "drifting",
    "colluding",
    "position_biased",
)
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
    # Accuracy of the careful first phase; DRIFT_LATE_ACCURACY is the careless one.
    "drifting": WorkerBehaviour((0.85, 0.95), (0.0, 0.0), 35.0, 0.4),
    # Colluders answer with their group (see COLLUSION_WRONG_RATE); accuracy is unused.
    "colluding": WorkerBehaviour((0.25, 0.25), (0.0, 0.0), 25.0, 0.5),
    "position_biased": WorkerBehaviour((0.7, 0.9), (0.2, 0.6), 30.0, 0.5),
}
# Careless phase of a drifting annotator: accuracy drawn from this range (1/4 is random).
DRIFT_LATE_ACCURACY: Final = (0.25, 0.4)
# Where a drifting annotator turns careless, as a share of their own votes in time order.
DRIFT_START: Final = (0.3, 0.7)
# How often a colluding group's shared answer is wrong (the rest of the time it is the truth).
COLLUSION_WRONG_RATE: Final = 0.8


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
    time: npt.NDArray[np.float64]
    """(n_votes,) when each vote was cast, in [0, 1); a worker's votes in this order are their history."""
    drift_at: npt.NDArray[np.float64]
    """(n_workers,) share of a drifting worker's votes before they turn careless; NaN for the others."""
    group: npt.NDArray[np.int64]
    """(n_workers,) colluding group of each worker, -1 for workers who do not collude."""

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
    collusion_group_size: int = 4,
    seed: int = 0,
) -> SimulatedVotes:
    """Draw `votes_per_item` votes from distinct simulated annotators for each item; same seed, same votes.

    Colluders are split into groups of `collusion_group_size` (the last takes the
    remainder); a group takes the first ⌊k/2⌋+1 slots of the items it attacks, so it
    outvotes the others there.
    """
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
    is_colluder = worker_type == WORKER_TYPES.index("colluding")
    if is_colluder.any():
        if is_colluder.all():
            raise ValueError("a crowd of colluders only has nobody to outvote")
        if collusion_group_size < 2:
            raise ValueError("collusion_group_size must be at least 2")
    # Colluders only vote where their group attacks (placed below), never on their own.
    assignment = _distinct_assignments(rng, n_items, votes_per_item, np.where(is_colluder, 0.0, activity))
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

    # Everything below draws from its own generator, so crowds without the new types are unchanged.
    extra = np.random.default_rng([seed, 1])
    time = extra.random(n_votes)
    drift_at = np.full(total_workers, np.nan)
    is_drifter = worker_type == WORKER_TYPES.index("drifting")
    if is_drifter.any():
        drift_at[is_drifter] = extra.uniform(*DRIFT_START, size=int(is_drifter.sum()))
        late_accuracy = extra.uniform(*DRIFT_LATE_ACCURACY, size=total_workers)
        late_confusion = (
            late_accuracy[:, None, None] * np.eye(N_LABELS)
            + (1.0 - late_accuracy)[:, None, None] * MISTAKE_DISTRIBUTION
        )
        late_cumulative = np.cumsum(late_confusion, axis=2)
        late_cumulative[:, :, -1] = 1.0
        share = _history_share(worker, time, total_workers)
        late = is_drifter[worker] & (share >= drift_at[worker])
        # Same uniform draw, the careless phase's confusion: a late vote is the early one re-read.
        late_label = (draw[late, None] >= late_cumulative[worker[late], true_label[item[late]], :-1]).sum(
            axis=1
        )
        label[late] = late_label
    group = np.full(total_workers, -1, dtype=np.int64)
    if is_colluder.any():
        worker, label, group = _collude(
            extra, worker, label, true_label, activity, is_colluder, votes_per_item, collusion_group_size
        )

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
        time=time,
        drift_at=drift_at,
        group=group,
    )


def _history_share(
    worker: npt.NDArray[np.int64], time: npt.NDArray[np.float64], n_workers: int
) -> npt.NDArray[np.float64]:
    """Per vote, the share of its worker's votes cast before it (0 for the first, just under 1 for the last)."""
    order = np.lexsort((time, worker))
    count = np.bincount(worker, minlength=n_workers)
    start = np.cumsum(count) - count
    rank = np.empty(worker.size, dtype=np.int64)
    rank[order] = np.arange(worker.size) - start[worker[order]]
    return rank / np.maximum(count[worker], 1)


def _wrong_answer(rng: np.random.Generator, truth: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """A confident wrong answer: the other side for a/b, a random side for tie and both_bad."""
    side = rng.integers(0, 2, size=truth.size)
    return np.where(truth == LABEL_A, LABEL_B, np.where(truth == LABEL_B, LABEL_A, side)).astype(np.int64)


def _collude(
    rng: np.random.Generator,
    worker: npt.NDArray[np.int64],
    label: npt.NDArray[np.int64],
    true_label: npt.NDArray[np.int64],
    activity: npt.NDArray[np.float64],
    is_colluder: npt.NDArray[np.bool_],
    votes_per_item: int,
    group_size: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Put colluding groups on items: each takes ⌊k/2⌋+1 slots of the items it attacks, all with one shared answer."""
    n_items = true_label.size
    members_all = np.flatnonzero(is_colluder)
    rng.shuffle(members_all)
    n_groups = max(1, members_all.size // group_size)
    groups = np.array_split(members_all, n_groups)
    group = np.full(activity.size, -1, dtype=np.int64)
    slots = np.arange(worker.size).reshape(n_items, votes_per_item)
    worker = worker.copy()
    label = label.copy()
    # Each group casts about the votes its members' activity would give them among everyone's.
    share = activity / activity.sum()
    n_votes = worker.size
    order = rng.permutation(n_items)
    used = 0
    for g, members in enumerate(groups):
        group[members] = g
        take = min(votes_per_item // 2 + 1, members.size)
        n_attacks = min(round(n_votes * share[members].sum() / take), n_items - used)
        if n_attacks <= 0:
            continue
        items = order[used : used + n_attacks]
        used += n_attacks
        picked = members[np.argsort(rng.random((n_attacks, members.size)), axis=1)[:, :take]]
        truth = true_label[items]
        answer = np.where(rng.random(n_attacks) < COLLUSION_WRONG_RATE, _wrong_answer(rng, truth), truth)
        target = slots[items, :take]
        worker[target] = picked
        label[target] = answer[:, None]
    return worker, label, group
