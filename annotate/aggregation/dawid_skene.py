"""Dawid–Skene EM over A/B votes: per-annotator confusion matrices and per-item posteriors.

A. P. Dawid and A. M. Skene, "Maximum Likelihood Estimation of Observer
Error-Rates Using the EM Algorithm", JRSS C 28(1), 1979. The "one_coin" model
gives each annotator a single accuracy with errors spread uniformly over the
other three labels (Zhang, Chen, Zhou & Jordan, JMLR 17, 2016).

The numbers deliberately follow crowd-kit 1.4.2 (`DawidSkene`, `OneCoinDawidSkene`)
so that a result can be checked against it:

* initialisation from the *soft* majority vote (vote shares, not one-hot), then an
  M-step, exactly like `MajorityVote().fit_predict_proba` + `_m_step`;
* confusion counts are clipped below at 1e-10 before normalising, and only for the
  (annotator, given label) pairs that occur in the data — crowd-kit's `groupby`
  never creates the others — so an annotator who never answered "tie" gets an
  exact zero there;
* one-coin: skill = mean posterior of the label the annotator gave, confusion
  entries skill / (1-skill)/(K-1), clipped to [1e-10, 1-1e-10], not renormalised;
* class priors are the mean posterior over voted items, clipped below at 1e-10
  in the E-step (not renormalised);
* gold items have their posterior replaced by one-hot after every E-step and at
  initialisation (crowd-kit's `_correct_probas_with_golden`).

Where we differ: crowd-kit records an evidence lower bound per vote, we record the
marginal log-likelihood log p(votes | θ) of the parameters used in each E-step
(gold items contribute log p(votes, z=gold | θ)), which EM never decreases
(Dawid & Skene 1979, §2; Dempster, Laird & Rubin 1977). It comes for free from the
E-step's log-sum-exp. `tol` compares its per-vote change, like crowd-kit's ELBO.
K is always 4; crowd-kit uses the number of labels seen, so the two agree
exactly when all four labels occur in the data.

Speed: no per-vote Python. Items are cut into blocks; within a block the j-th votes of
all items form a slot, so an E-step is a gather `log(confusion)[class][key]` per slot and
class and the M-step's expected counts a `bincount` per slot and class, all over
class-major (4, items) arrays. Each EM iteration is one pass over the blocks (E-step, then
the block's share of the M-step's sums), spread over threads.

One module although past ~350 lines: the plain and the left-pick (position-aware) model
run through the same blocked EM (``_vote_blocks``, ``_em_block``, ``_BlockSums``).
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from annotate.aggregation.labels import LABEL_A, LABEL_B, N_LABELS
from annotate.aggregation.votes import validated_votes, validated_weights

# crowd-kit's `_EPS = np.float_power(10, -10)`: the floor for confusion entries and priors.
CROWDKIT_EPS: Final = 1e-10

DawidSkeneModel = Literal["full", "one_coin", "left_pick"]
# Starting share of "picks whatever is on the left" in the left_pick model: EM cannot
# move a mixture weight away from exactly 0.
LEFT_PICK_START: Final = 0.05


@dataclass(frozen=True)
class DawidSkeneResult:
    """Fitted Dawid–Skene model; arrays are indexed by item, worker and label code."""

    posteriors: npt.NDArray[np.float64]
    """(n_items, 4) P(true label | votes) from the last E-step; rows sum to 1 (gold rows one-hot)."""
    labels: npt.NDArray[np.int64]
    """(n_items,) argmax of the posteriors (lowest code wins an exact tie, as pandas idxmax does)."""
    confusion: npt.NDArray[np.float64]
    """(n_workers, 4, 4) confusion[w, true, given] = P(worker w answers `given` | true label)."""
    priors: npt.NDArray[np.float64]
    """(4,) class priors from the last M-step."""
    log_likelihood: npt.NDArray[np.float64]
    """(n_iter,) log p(votes | θ) of the parameters used in each E-step; non-decreasing."""
    n_iter: int
    """Number of EM iterations run (E-steps)."""
    converged: bool
    """True when the per-vote log-likelihood gain fell below `tol` before `max_iter`."""
    left_pick_rate: npt.NDArray[np.float64] | None = None
    """(n_workers,) with model="left_pick": each annotator's estimated share of "pick the left one" answers."""


# Votes beyond this rank within an item go through one sparse matrix instead of a slot:
# overlap targets are small (3-5), so slots cover nearly every vote.
MAX_SLOTS: Final = 8
# Items per block. Measured on 1M votes (bench/aggregate.py): from 32k items up the time
# per vote is flat — the fixed cost of a block's ~60 NumPy calls is paid back — while a
# million votes still make five or more blocks for the threads to share.
BLOCK_ITEMS: Final = 65_536
# Below this many items one thread is faster than handing blocks to a pool.
MIN_ITEMS_PER_THREAD: Final = 50_000

_Slot = tuple[npt.NDArray[np.int64] | None, npt.NDArray[np.int64]]


class _VoteBlock:
    """The votes of items lo..hi-1, regrouped for fast E- and M-steps.

    Slot j holds the j-th vote of every item that has more than j votes. Within a slot no
    item repeats, so an E-step is one gather per slot and class (`log_error[class][key]`)
    added into the item row, and an M-step one `bincount` per slot and class — no scatter
    with repeated indices. Arrays are class-major, (4, items): every gather, reduction and
    bincount runs over contiguous memory, where NumPy's length-4 axes are slow. A block's
    E-step is followed at once by its share of the next M-step's sums, while its
    posteriors are fresh; blocks are independent, so threads take them in turn.
    """

    def __init__(
        self,
        lo: int,
        hi: int,
        sorted_item: npt.NDArray[np.int64],
        sorted_key: npt.NDArray[np.int64],
        rank: npt.NDArray[np.int64],
        n_keys: int,
        voted: npt.NDArray[np.float64],
        gold_item: npt.NDArray[np.int64],
        gold_label: npt.NDArray[np.int64],
    ) -> None:
        self.lo, self.hi, self.n_keys = lo, hi, n_keys
        self.slots: list[_Slot] = []
        for slot in range(min(MAX_SLOTS, int(rank.max(initial=-1)) + 1)):
            in_slot = rank == slot
            # Item numbers relative to lo; None when the slot has a vote for every item.
            slot_items = sorted_item[in_slot] - lo
            self.slots.append((None if slot_items.size == hi - lo else slot_items, sorted_key[in_slot]))
        tail = rank >= MAX_SLOTS
        self.tail = sp.csr_matrix(
            sp.coo_matrix(
                (np.ones(int(tail.sum())), (sorted_item[tail] - lo, sorted_key[tail])),
                shape=(hi - lo, n_keys),
            )
        )
        self.tail_transposed = self.tail.T.tocsr()
        # None when every item has a vote (the usual case): sums then need no weights.
        self.voted = None if voted[lo:hi].all() else voted[lo:hi]
        in_block = (gold_item >= lo) & (gold_item < hi)
        self.gold_item = gold_item[in_block] - lo
        self.gold_label = gold_label[in_block]

    def log_joint(
        self, log_error: npt.NDArray[np.float64], log_prior: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        """(4, hi-lo): log p(z) + Σ over each item's votes of log_error[z, key], for a (4, n_keys) table."""
        total = np.empty((N_LABELS, self.hi - self.lo))
        total[:] = log_prior[:, None]
        for slot_items, slot_keys in self.slots:
            for label in range(N_LABELS):
                # Fancy indexing of a 1-d array is NumPy's fastest gather (faster than take).
                gathered = log_error[label][slot_keys]
                if slot_items is None:
                    total[label] += gathered
                else:
                    total[label, slot_items] += gathered
        if self.tail.nnz:
            total += (self.tail @ log_error.T).T
        return total

    def key_sums(self, posteriors: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """(4, n_keys): for each key, the sum over its votes of the (4, hi-lo) posteriors of their items."""
        total = np.zeros((N_LABELS, self.n_keys))
        for slot_items, slot_keys in self.slots:
            for label in range(N_LABELS):
                weights = posteriors[label] if slot_items is None else posteriors[label][slot_items]
                total[label] += np.bincount(slot_keys, weights=weights, minlength=self.n_keys)
        if self.tail.nnz:
            total += (self.tail_transposed @ posteriors.T).T
        return total

    def voted_sum(self, values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Sum over the block's voted items along the last axis."""
        return values.sum(axis=-1) if self.voted is None else values @ self.voted


@dataclass(frozen=True)
class _BlockSums:
    """A block's share of the M-step and of the log-likelihood."""

    key_sums: npt.NDArray[np.float64]
    """(4, n_keys) summed posteriors per (worker, given label) key."""
    prior_sums: npt.NDArray[np.float64]
    """(4,) summed posteriors of the voted items."""
    log_likelihood: float
    """Σ log p(votes of the item | θ) over the voted items."""


def _vote_blocks(
    item: npt.NDArray[np.int64],
    key: npt.NDArray[np.int64],
    n_items: int,
    n_keys: int,
    voted: npt.NDArray[np.float64],
    gold_item: npt.NDArray[np.int64],
    gold_label: npt.NDArray[np.int64],
) -> list[_VoteBlock]:
    order = np.argsort(item, kind="stable")
    sorted_item = item[order]
    sorted_key = key[order]
    votes_per_item = np.bincount(item, minlength=n_items)
    first_vote = np.cumsum(votes_per_item) - votes_per_item
    rank = np.arange(item.size) - first_vote[sorted_item]
    n_blocks = max(1, -(-n_items // BLOCK_ITEMS))
    bounds = np.linspace(0, n_items, n_blocks + 1).astype(np.int64)
    vote_bounds = np.searchsorted(sorted_item, bounds)
    return [
        _VoteBlock(
            int(bounds[i]),
            int(bounds[i + 1]),
            sorted_item[vote_bounds[i] : vote_bounds[i + 1]],
            sorted_key[vote_bounds[i] : vote_bounds[i + 1]],
            rank[vote_bounds[i] : vote_bounds[i + 1]],
            n_keys,
            voted,
            gold_item,
            gold_label,
        )
        for i in range(n_blocks)
    ]


def _em_block(
    block: _VoteBlock,
    log_error: npt.NDArray[np.float64],
    log_prior: npt.NDArray[np.float64],
    posteriors: npt.NDArray[np.float64],
) -> _BlockSums:
    """E-step for the block's items, written into the (4, n_items) posteriors; then the block's sums for the M-step."""
    log_joint = block.log_joint(log_error, log_prior)
    row_max = np.maximum(np.maximum(log_joint[0], log_joint[1]), np.maximum(log_joint[2], log_joint[3]))
    log_joint -= row_max
    scaled = np.exp(log_joint, out=posteriors[:, block.lo : block.hi])
    row_sum = scaled[0] + scaled[1]
    row_sum += scaled[2]
    row_sum += scaled[3]
    scaled /= row_sum
    item_log_likelihood = np.log(row_sum)
    item_log_likelihood += row_max
    if block.gold_item.size:
        # Gold items: log p(votes, z = gold), the complete-data term EM maximises for observed z.
        item_log_likelihood[block.gold_item] += np.log(scaled[block.gold_label, block.gold_item])
        scaled[:, block.gold_item] = 0.0
        scaled[block.gold_label, block.gold_item] = 1.0
    return _BlockSums(
        block.key_sums(scaled), block.voted_sum(scaled), float(block.voted_sum(item_log_likelihood))
    )


def _confusion_from_counts(
    counts: npt.NDArray[np.float64],
    observed: npt.NDArray[np.bool_],
    vote_total: npt.NDArray[np.float64],
    model: DawidSkeneModel,
) -> npt.NDArray[np.float64]:
    """M-step: counts[w, given, true] (expected) → error[w, given, true] = P(given | true)."""
    if model == "full":
        error = np.where(observed[:, :, None], np.maximum(counts, CROWDKIT_EPS), 0.0)
        column_sum = error.sum(axis=1, keepdims=True)
        return np.divide(error, column_sum, out=np.zeros_like(error), where=column_sum > 0)
    # One coin: the expected number of correct answers is the diagonal of the counts.
    correct = np.trace(counts, axis1=1, axis2=2)
    skill = np.divide(correct, vote_total, out=np.zeros_like(correct), where=vote_total > 0)
    wrong = (1.0 - skill) / (N_LABELS - 1)
    error = np.broadcast_to(wrong[:, None, None], counts.shape).copy()
    diagonal = np.arange(N_LABELS)
    error[:, diagonal, diagonal] = skill[:, None]
    error = np.clip(error, CROWDKIT_EPS, 1.0 - CROWDKIT_EPS)
    return np.where(observed[:, :, None], error, 0.0)


def dawid_skene(
    item: npt.ArrayLike,
    worker: npt.ArrayLike,
    label: npt.ArrayLike,
    *,
    n_items: int | None = None,
    n_workers: int | None = None,
    model: DawidSkeneModel = "full",
    flipped: npt.ArrayLike | None = None,
    left_pick_workers: npt.ArrayLike | None = None,
    gold_item: npt.ArrayLike | None = None,
    gold_label: npt.ArrayLike | None = None,
    init_weight: npt.ArrayLike | None = None,
    worker_weight: npt.ArrayLike | None = None,
    max_iter: int = 100,
    tol: float | None = 1e-5,
    crowdkit_compatible: bool = False,
    n_threads: int | None = None,
) -> DawidSkeneResult:
    """Fit Dawid–Skene by EM from a (weighted) majority-vote start; log-likelihood never decreases.

    `gold_item`/`gold_label` clamp those items' posteriors to one-hot throughout.
    `init_weight` (per vote, e.g. preference strength) only weights the initial
    majority vote. `model="left_pick"` needs `flipped` (B shown on the left, per vote)
    and adds a per-annotator share of "pick the left one" answers to the full model
    (`_LeftPickModel`); `left_pick_workers` (per worker) limits that share to some
    annotators (the others keep 0), and `confusion` then has rows 2w (A on the left)
    and 2w+1 (B on the left). `worker_weight` (per worker, in [0, 1]) tempers each worker's
    evidence: their log-likelihood terms are multiplied by it in every E-step and their
    votes by it in the initial majority vote, so 0 ignores a worker and 1 is plain
    Dawid–Skene; their confusion is still estimated (the M-step's argmax does not
    depend on the factor). The recorded log-likelihood is then the tempered one, which
    EM still never decreases. `tol=None` runs exactly `max_iter` iterations; otherwise EM stops
    when the per-vote log-likelihood gain is below `tol`, or, with
    `crowdkit_compatible=True`, when crowd-kit's evidence lower bound per vote gains
    less than `tol` (so the same `n_iter`/`tol` stop at the same iteration as
    crowd-kit 1.4.2 and give its posteriors). Items go through EM in blocks; for
    large inputs `n_threads` threads (default: CPU count, at most 4) share the
    blocks, and the result does not depend on how many there are.
    """
    if model not in ("full", "one_coin", "left_pick"):
        raise ValueError(f"model must be 'full', 'one_coin' or 'left_pick', got {model!r}")
    if max_iter < 1:
        raise ValueError("max_iter must be at least 1")
    votes = validated_votes(item, worker, label, n_items=n_items, n_workers=n_workers)
    n_items, n_workers, n_votes = votes.n_items, votes.n_workers, votes.item.size
    weights = validated_weights("init_weight", init_weight, n_votes)
    tempering = None
    if worker_weight is not None:
        tempering = validated_weights("worker_weight", worker_weight, n_workers)
        if tempering.size and float(tempering.max()) > 1.0:
            raise ValueError("worker_weight must lie in [0, 1]")
        weights = weights * tempering[votes.worker]
    real_workers = n_workers
    left_pick: _LeftPickModel | None = None
    if model == "left_pick":
        if flipped is None:
            raise ValueError("model='left_pick' needs flipped (the display order of each vote)")
        flipped_array = np.asarray(flipped, dtype=bool)
        if flipped_array.shape != votes.item.shape:
            raise ValueError("flipped needs one entry per vote")
        # Each annotator becomes two rows, one per display order; the M-step ties them together.
        votes = validated_votes(
            votes.item,
            2 * votes.worker + flipped_array,
            votes.label,
            n_items=n_items,
            n_workers=2 * n_workers,
        )
        n_workers = 2 * n_workers
        if tempering is not None:
            tempering = np.repeat(tempering, 2)
        free = np.ones(real_workers, dtype=bool)
        if left_pick_workers is not None:
            free = np.asarray(left_pick_workers, dtype=bool)
            if free.shape != (real_workers,):
                raise ValueError(f"left_pick_workers needs one entry per worker ({real_workers})")
        left_pick = _LeftPickModel(free)
    elif flipped is not None:
        raise ValueError("flipped is only used with model='left_pick'")

    gold_items, gold_labels = _validated_gold(gold_item, gold_label, n_items)
    key = votes.worker * N_LABELS + votes.label
    n_keys = n_workers * N_LABELS
    observed = (np.bincount(key, minlength=n_keys) > 0).reshape(n_workers, N_LABELS)
    vote_total = np.bincount(votes.worker, minlength=n_workers).astype(np.float64)
    # Items without votes carry no evidence; crowd-kit never sees them, so they are left
    # out of the priors and the log-likelihood (their posterior is the prior).
    votes_per_item = np.bincount(votes.item, minlength=n_items).astype(np.float64)
    voted = (votes_per_item > 0).astype(np.float64)
    n_voted = max(float(voted.sum()), 1.0)
    blocks = _vote_blocks(votes.item, key, n_items, n_keys, voted, gold_items, gold_labels)
    if n_threads is None:
        n_threads = min(os.cpu_count() or 1, 4)
    n_threads = max(1, min(n_threads, n_items // MIN_ITEMS_PER_THREAD, len(blocks)))

    # Initialisation: soft majority vote (vote shares), as crowd-kit's MajorityVote.fit_predict_proba.
    label_weight = np.bincount(
        votes.item * N_LABELS + votes.label, weights=weights, minlength=n_items * N_LABELS
    ).reshape(n_items, N_LABELS)
    total = label_weight.sum(axis=1, keepdims=True)
    initial = np.divide(label_weight, total, out=np.full_like(label_weight, 1.0 / N_LABELS), where=total > 0)
    initial[gold_items] = 0.0
    initial[gold_items, gold_labels] = 1.0
    # Class-major, (4, n_items), like the blocks' arrays; the result is transposed back.
    posteriors = np.ascontiguousarray(initial.T)
    del label_weight, total, initial
    # Expected (worker, given, true) counts of the latest M-step; crowd-kit's stopping bound reads them.
    counts = np.zeros((n_workers, N_LABELS, N_LABELS))

    def m_step(sums: list[_BlockSums]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        nonlocal counts
        priors = np.sum([s.prior_sums for s in sums], axis=0) / n_voted
        # key_sums[true, worker·4 + given] → counts[worker, given, true].
        counts = np.sum([s.key_sums for s in sums], axis=0).T.reshape(n_workers, N_LABELS, N_LABELS)
        if left_pick is not None:
            return priors, left_pick.m_step(counts)
        return priors, _confusion_from_counts(counts, observed, vote_total, model)

    with ThreadPoolExecutor(max_workers=n_threads) as pool:
        # pool.map keeps the block order, so the sums add up in the same order on any number of threads.
        run = pool.map if n_threads > 1 else map
        priors, error = m_step(
            [
                _BlockSums(
                    b.key_sums(posteriors[:, b.lo : b.hi]), b.voted_sum(posteriors[:, b.lo : b.hi]), 0.0
                )
                for b in blocks
            ]
        )
        crowdkit_bound = -np.inf
        history: list[float] = []
        converged = False
        for _ in range(max_iter):
            # E-step in log space (crowd-kit uses log2; same posteriors). Unobserved
            # (worker, label) rows are zero and never used, so log(0) is masked to 0.
            log_error = np.log(error, out=np.zeros_like(error), where=error > 0).reshape(n_keys, N_LABELS)
            if tempering is not None:
                log_error *= np.repeat(tempering, N_LABELS)[:, None]
            log_error_by_class = np.ascontiguousarray(log_error.T)
            log_prior = np.log(np.maximum(priors, CROWDKIT_EPS))
            em_step = partial(
                _em_block, log_error=log_error_by_class, log_prior=log_prior, posteriors=posteriors
            )
            sums = list(run(em_step, blocks))
            history.append(math.fsum(s.log_likelihood for s in sums))
            # Like crowd-kit, the M-step runs before the convergence check, so the
            # returned confusion matrices belong to the returned posteriors.
            priors, error = m_step(sums)
            if tol is None:
                continue
            if crowdkit_compatible:
                # crowd-kit stops on its evidence lower bound per vote, computed after the M-step.
                bound = (
                    _crowdkit_evidence_lower_bound(posteriors.T, counts, error, priors, votes_per_item)
                    / n_votes
                )
                if bound - crowdkit_bound < tol:
                    converged = True
                    break
                crowdkit_bound = bound
            elif len(history) > 1 and (history[-1] - history[-2]) / max(n_votes, 1) < tol:
                converged = True
                break

    result = np.ascontiguousarray(posteriors.T)
    return DawidSkeneResult(
        posteriors=result,
        labels=result.argmax(axis=1).astype(np.int64),
        confusion=np.ascontiguousarray(error.transpose(0, 2, 1)),
        priors=priors,
        log_likelihood=np.asarray(history),
        n_iter=len(history),
        converged=converged,
        left_pick_rate=None if left_pick is None else left_pick.rate.copy(),
    )


class _LeftPickModel:
    """M-step of Dawid–Skene with a per-annotator "pick the left one" mixture.

    P(given | true, order) = (1 − r_w)·C_w[given, true] + r_w·[given is the left response],
    where the left response is a when A was shown on the left and b when B was. Rows
    2w and 2w+1 of the counts are annotator w with A / B on the left. One EM step for
    the mixture inside each M-step (generalised EM): the share of each left-side answer
    that came from the left-pick coin is r/q, the rest is honest. Two matrices per
    annotator would fit the same thing with twice the parameters, and measured worse.
    """

    def __init__(self, free: npt.NDArray[np.bool_]) -> None:
        self.n_workers = free.size
        # Annotators outside `free` keep r = 0: plain Dawid–Skene for them.
        self.free = free
        self.rate = np.where(free, LEFT_PICK_START, 0.0)
        self.honest: npt.NDArray[np.float64] | None = None  # (n, given, true)

    def m_step(self, counts: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """counts[2w + order, given, true] → error[2w + order, given, true]."""
        n = self.n_workers
        by_order = counts.reshape(n, 2, N_LABELS, N_LABELS)
        if self.honest is None:
            pooled = by_order.sum(axis=1)
            total = pooled.sum(axis=1, keepdims=True)
            self.honest = np.divide(pooled, total, out=np.full_like(pooled, 1.0 / N_LABELS), where=total > 0)
        left_label = (LABEL_A, LABEL_B)
        honest_counts = by_order.sum(axis=1)
        picked = np.zeros(n)
        r = self.rate
        for order, left in enumerate(left_label):
            left_counts = by_order[:, order, left, :]  # (n, true)
            mixture = (1.0 - r)[:, None] * self.honest[:, left, :] + r[:, None]
            share = np.divide(r[:, None], mixture, out=np.zeros_like(mixture), where=mixture > 0)
            from_coin = left_counts * share
            picked += from_coin.sum(axis=1)
            honest_counts[:, left, :] -= from_coin
        total_votes = by_order.sum(axis=(1, 2, 3))
        self.rate = np.where(
            self.free,
            np.clip(
                np.divide(picked, total_votes, out=np.zeros(n), where=total_votes > 0),
                CROWDKIT_EPS,
                1.0 - 1e-6,
            ),
            0.0,
        )
        honest = np.maximum(honest_counts, CROWDKIT_EPS)
        self.honest = honest / honest.sum(axis=1, keepdims=True)
        error = np.repeat(((1.0 - self.rate)[:, None, None] * self.honest)[:, None], 2, axis=1)
        for order, left in enumerate(left_label):
            error[:, order, left, :] += self.rate[:, None]
        return error.reshape(2 * n, N_LABELS, N_LABELS)


def _crowdkit_evidence_lower_bound(
    posteriors: npt.NDArray[np.float64],
    counts: npt.NDArray[np.float64],
    error: npt.NDArray[np.float64],
    priors: npt.NDArray[np.float64],
    votes_per_item: npt.NDArray[np.float64],
) -> float:
    """crowd-kit 1.4.2 `DawidSkene._evidence_lower_bound`, from the M-step's expected counts.

    Σ_votes Σ_c q(c)·(log e[w, l, c] + log π_c) + H(q); crowd-kit adds log π once per
    vote (not per item), and clips q at 1e-10 inside the entropy. Reproduced, quirks
    included, only to stop at the same iteration as crowd-kit.
    """
    log_error = np.log(error, out=np.zeros_like(error), where=error > 0)
    expected_log_error = float(np.sum(counts * log_error))
    expected_log_prior = float((votes_per_item @ posteriors) @ np.log(np.maximum(priors, CROWDKIT_EPS)))
    clipped = np.maximum(posteriors[votes_per_item > 0], CROWDKIT_EPS)
    entropy = -float(np.sum(clipped * np.log(clipped)))
    return expected_log_error + expected_log_prior + entropy


def _validated_gold(
    gold_item: npt.ArrayLike | None, gold_label: npt.ArrayLike | None, n_items: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    if gold_item is None and gold_label is None:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    if gold_item is None or gold_label is None:
        raise ValueError("gold_item and gold_label must be given together")
    gold = validated_votes(
        gold_item, np.zeros(np.shape(gold_item), dtype=np.int64), gold_label, n_items=n_items
    )
    if np.unique(gold.item).size != gold.item.size:
        raise ValueError("gold_item must not repeat an item")
    return gold.item, gold.label
