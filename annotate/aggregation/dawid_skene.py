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

Speed: EM runs over blocks of items without per-vote Python
(``annotate.aggregation.dawid_skene_blocks``); the models' M-steps are in
``annotate.aggregation.dawid_skene_m_step``.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import numpy as np
import numpy.typing as npt

from annotate.aggregation.dawid_skene_blocks import BlockSums, block_threads, em_block, vote_blocks
from annotate.aggregation.dawid_skene_m_step import (
    CROWDKIT_EPS,
    DawidSkeneModel,
    LeftPickModel,
    confusion_from_counts,
)
from annotate.aggregation.labels import N_LABELS
from annotate.aggregation.votes import validated_votes, validated_weights


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
    (`LeftPickModel`); `left_pick_workers` (per worker) limits that share to some
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
    left_pick: LeftPickModel | None = None
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
        left_pick = LeftPickModel(free)
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
    blocks = vote_blocks(votes.item, key, n_items, n_keys, voted, gold_items, gold_labels)
    n_threads = block_threads(n_threads, n_items, len(blocks))

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

    def m_step(sums: list[BlockSums]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        nonlocal counts
        priors = np.sum([s.prior_sums for s in sums], axis=0) / n_voted
        # key_sums[true, worker·4 + given] → counts[worker, given, true].
        counts = np.sum([s.key_sums for s in sums], axis=0).T.reshape(n_workers, N_LABELS, N_LABELS)
        if left_pick is not None:
            return priors, left_pick.m_step(counts)
        return priors, confusion_from_counts(counts, observed, vote_total, model)

    with ThreadPoolExecutor(max_workers=n_threads) as pool:
        # pool.map keeps the block order, so the sums add up in the same order on any number of threads.
        run = pool.map if n_threads > 1 else map
        priors, error = m_step(
            [
                BlockSums(
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
                em_block, log_error=log_error_by_class, log_prior=log_prior, posteriors=posteriors
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
