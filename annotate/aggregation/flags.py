"""Flags for unreliable annotators, with the evidence behind each one.

Five flags, each answering one question about an annotator:

* ``gold`` — is their accuracy on gold items under the floor (after enough gold)?
* ``position`` — does the side a response is shown on change their answer? Where the
  other votes on the item prefer a side, an annotator without position bias picks
  the left response as often when the preferred one is on the left as they leave it
  when it is on the right (the display order is random), so
  T = P(left | preferred on left) + P(left | preferred on right) − 1 is 0; a bias r
  towards the left makes T = r. This two-proportion test conditions on the content
  and has about 1.4× the power of the plain binomial test of left-vs-right clicks
  (which is still reported, and used when either side has under
  `position_min_votes` votes).
* ``fast`` — is their median time per item under the floor?
* ``drift`` — did they get worse? Their votes in time order are scored against a
  reference (the gold answer on gold items, elsewhere the majority of the *other*
  votes on the item), and the best single change-point is found: the split that
  maximises the one-sided two-proportion z statistic "earlier accuracy > recent
  accuracy". Its p-value is Bonferroni-corrected over the splits tried, so an
  honest annotator's random ups and downs are not mistaken for a drop. The votes
  after the split are the "recent window" reported as evidence.
* ``collusion`` — needs no gold. For every pair of annotators who voted on the same
  items, count the items where the two gave the *same* answer and the other votes on
  the item (everyone but the pair) preferred a different one. Independent annotators
  do that about as often as any two annotators who agree are outvoted by the rest
  (measured over the whole crowd, per number of votes on the item) times the items
  where they agreed; a pair far above that (Poisson upper tail, Bonferroni over all pairs, and at least
  `collusion_min_ratio` times the expectation) is linked, and linked annotators form
  a group (connected components).

A flag that cannot be computed says why (no gold, no timings, no item with enough
votes) instead of silently never firing.

One module although past ~350 lines: the tests share the label-count and leave-one-out
majority helpers, and ``annotator_flags`` fills one ``AnnotatorFlags`` from all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.stats import norm, poisson

from annotate.aggregation.annotator_stats import AnnotatorStats, annotator_stats
from annotate.aggregation.labels import LABEL_A, LABEL_B, N_LABELS, NO_WINNER
from annotate.aggregation.votes import validated_votes

FLAG_NAMES: Final = ("gold", "position", "fast", "drift", "collusion")

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class FlagThresholds:
    """When each flag fires; the first four come from the project's settings."""

    min_gold_accuracy: float = 0.6
    min_gold_items: int = 10
    position_bias_p: float = 0.01
    min_median_seconds: float = 3.0
    position_min_votes: int = 10
    """Votes needed with the preferred response on each side before the conditioned position test is used."""
    drift_p: float = 0.01
    """Bonferroni-corrected p-value under which a drop in accuracy counts."""
    drift_min_drop: float = 0.3
    """Accuracy must fall by at least this much (earlier − recent), however significant.

    bench/quality.py: honest annotators' best split reached drops of 0.25–0.29 at p < 0.01
    (the split is chosen to maximise the drop), careless drifters' 0.39 and more."""
    drift_min_segment: int = 20
    """Votes with a reference needed on each side of a change-point."""
    collusion_p: float = 0.01
    """Bonferroni-corrected (over pairs) Poisson p-value under which a pair is linked."""
    collusion_min_shared: int = 5
    """Items where the pair agreed against the others needed before a link."""
    collusion_min_ratio: float = 3.0
    """Observed agreements against the others over the number expected by chance."""


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


@dataclass(frozen=True)
class CollusionGroup:
    """Annotators linked by agreeing against everyone else far more often than chance."""

    members: list[int]
    """Worker indices."""
    shared_items: int
    """Item-pair incidences: summed over linked pairs, items both voted on with other votes present."""
    agreed: int
    """Of those, how often the pair gave the same answer."""
    agree_against: int
    """Of those, how often the pair gave the same answer and the other votes preferred another."""
    expected: float
    """How many of those independent annotators would produce."""

    @property
    def rate(self) -> float:
        return self.agree_against / self.shared_items if self.shared_items else 0.0

    @property
    def expected_rate(self) -> float:
        return self.expected / self.shared_items if self.shared_items else 0.0

    @property
    def ratio(self) -> float:
        return self.agree_against / self.expected if self.expected > 0 else float("inf")


@dataclass(frozen=True)
class CollusionResult:
    groups: list[CollusionGroup]
    group_of: IntArray
    """(n_workers,) index into `groups`, -1 when not in one."""
    pairs_tested: int
    eligible_items: int
    """Items with at least three votes (a pair and somebody else)."""


@dataclass(frozen=True)
class AnnotatorFlags:
    """Every flag per annotator, the evidence, and why a flag could not be computed."""

    stats: AnnotatorStats
    drift: DriftResult
    collusion: CollusionResult
    side_p_value: FloatArray
    """(n_workers,) two-sided p-value of the content-conditioned position test; NaN where too few votes."""
    position_p_value: FloatArray
    """(n_workers,) the p-value the position flag used (conditioned test, else the binomial one)."""
    flags: dict[str, BoolArray]
    """Flag name → (n_workers,) bool."""
    unavailable: dict[str, str] = field(default_factory=dict)
    """Flag name → why it cannot be computed on these votes (absent when it can)."""

    def flags_of(self, worker: int) -> list[str]:
        return [name for name in FLAG_NAMES if self.flags[name][worker]]

    @property
    def any_flag(self) -> BoolArray:
        return np.logical_or.reduce([self.flags[name] for name in FLAG_NAMES])


def _label_counts(item: IntArray, label: IntArray, n_items: int) -> IntArray:
    return np.bincount(item * N_LABELS + label, minlength=n_items * N_LABELS).reshape(n_items, N_LABELS)


def leave_one_out_majority(item: IntArray, label: IntArray, n_items: int) -> IntArray:
    """Per vote, the strict majority label of the *other* votes on its item; NO_WINNER when none."""
    counts = _label_counts(item, label, n_items)
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


def side_test(
    worker: IntArray,
    label: IntArray,
    flipped: BoolArray,
    reference: IntArray,
    *,
    n_workers: int,
    min_votes: int = 10,
) -> FloatArray:
    """Two-sided p-value per annotator that their left picks depend on the display side given the reference side."""
    decisive = ((label == LABEL_A) | (label == LABEL_B)) & ((reference == LABEL_A) | (reference == LABEL_B))
    left = ((label == LABEL_A) & ~flipped) | ((label == LABEL_B) & flipped)
    reference_left = ((reference == LABEL_A) & ~flipped) | ((reference == LABEL_B) & flipped)
    n1 = np.bincount(worker, weights=decisive & reference_left, minlength=n_workers)
    n2 = np.bincount(worker, weights=decisive & ~reference_left, minlength=n_workers)
    x = np.bincount(worker, weights=decisive & reference_left & left, minlength=n_workers)
    y = np.bincount(worker, weights=decisive & ~reference_left & left, minlength=n_workers)
    enough = (n1 >= min_votes) & (n2 >= min_votes)
    with np.errstate(invalid="ignore", divide="ignore"):
        # Under no bias, agreeing with the reference has one rate p on both sides.
        agreeing = (x + n2 - y) / (n1 + n2)
        se = np.sqrt(agreeing * (1 - agreeing) * (1 / n1 + 1 / n2))
        statistic = x / n1 + y / n2 - 1.0
        z = np.abs(statistic) / se
    p_value = np.where(se > 0, 2.0 * norm.sf(z), np.where(np.abs(statistic) > 0, 0.0, 1.0))
    return np.where(enough, p_value, np.nan)


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
    g = gold_votes[order]
    gc = (correct[order] & g).astype(np.float64)
    count = np.bincount(w, minlength=n_workers)
    start = np.cumsum(count) - count
    rank = np.arange(order.size) - start[w]
    # Running sums within each annotator: global cumsum minus the sum before the annotator's start.
    cum = np.cumsum(c)
    before_start = np.concatenate([[0.0], cum])[start]
    k1 = cum - before_start[w]  # correct among the first rank+1 votes
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
    cum_g = np.cumsum(g.astype(np.float64))
    cum_gc = np.cumsum(gc)
    g_before_start = np.concatenate([[0.0], cum_g])[start]
    gc_before_start = np.concatenate([[0.0], cum_gc])[start]
    g_total = np.bincount(w, weights=g, minlength=n_workers)
    gc_total = np.bincount(w, weights=gc, minlength=n_workers)
    recent_gold_votes = np.zeros(n_workers, dtype=np.int64)
    recent_gold_accuracy = np.full(n_workers, np.nan)
    earlier_gold_accuracy = np.full(n_workers, np.nan)
    workers_found = np.flatnonzero(found)
    g1 = cum_g[at] - g_before_start[workers_found]
    gc1 = cum_gc[at] - gc_before_start[workers_found]
    g2 = g_total[workers_found] - g1
    gc2 = gc_total[workers_found] - gc1
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


def collusion_test(
    item: IntArray,
    worker: IntArray,
    label: IntArray,
    *,
    n_items: int,
    n_workers: int,
    p_threshold: float = 0.01,
    min_shared: int = 5,
    min_ratio: float = 3.0,
    exclude: BoolArray | None = None,
) -> CollusionResult:
    """Groups of annotators who agree with each other against the other votes far more than chance (no gold needed).

    `exclude` (per worker) leaves annotators out of the pairs (e.g. imported votes),
    though their votes still count as "the others".
    """
    counts = _label_counts(item, label, n_items)
    total = counts.sum(axis=1)
    eligible = total >= 3
    # For a pair both answering l: the others' count of l is n_l − 2; "against" when some
    # other label has strictly more of the others' votes.
    other_max = np.stack(
        [np.delete(counts, label_code, axis=1).max(axis=1) for label_code in range(N_LABELS)], axis=1
    )
    against_pair = eligible[:, None] & (counts - 2 < other_max)
    # Chance: how often *any* two annotators who agree on an item are outvoted by the rest
    # there, per number of votes on the item. Honest experts are outvoted whenever the others
    # err, at the crowd's usual rate; a product of the two annotators' own disagreement rates
    # would ignore that the truth is their common cause and call every good pair collusive.
    agreeing_pairs = counts * (counts - 1) / 2.0
    pairs_by_total = np.bincount(total, weights=agreeing_pairs.sum(axis=1))
    against_by_total = np.bincount(total, weights=(agreeing_pairs * against_pair).sum(axis=1))
    outvoted = np.divide(
        against_by_total, pairs_by_total, out=np.zeros_like(against_by_total), where=pairs_by_total > 0
    )
    in_pairs = np.ones(n_workers, dtype=bool) if exclude is None else ~exclude
    use = eligible[item] & in_pairs[worker]
    empty = CollusionResult([], np.full(n_workers, -1, dtype=np.int64), 0, int(eligible.sum()))
    if not use.any():
        return empty
    voted = sp.csr_matrix((np.ones(int(use.sum())), (worker[use], item[use])), shape=(n_workers, n_items))
    shared = (voted @ voted.T).tocoo()
    key = item * N_LABELS + label
    n_keys = n_items * N_LABELS

    def pair_sums(mask: BoolArray, value: FloatArray) -> sp.csr_matrix:
        # Σ over items both answered the same way of value²: a product of two sparse rows.
        rows = sp.csr_matrix((value[mask], (worker[mask], key[mask])), shape=(n_workers, n_keys))
        return (rows @ rows.T).tocsr()

    hit = use & against_pair[item, label]
    agree_against = pair_sums(hit, np.ones(item.size))
    agreed = pair_sums(use, np.ones(item.size))
    expected_sums = pair_sums(use, np.sqrt(outvoted[total[item]]))
    upper = shared.row < shared.col
    u, v, n_shared = shared.row[upper], shared.col[upper], shared.data[upper]
    a = np.asarray(agree_against[u, v]).ravel() if u.size else np.zeros(0)
    n_agreed = np.asarray(agreed[u, v]).ravel() if u.size else np.zeros(0)
    expected = np.asarray(expected_sums[u, v]).ravel() if u.size else np.zeros(0)
    # Bonferroni over the pairs that agreed at least once (the others cannot reach min_shared).
    p_value = poisson.sf(a - 1, np.maximum(expected, 1e-12)) * max(int((n_agreed > 0).sum()), 1)
    linked = (a >= min_shared) & (a >= min_ratio * expected) & (p_value < p_threshold)
    group_of = np.full(n_workers, -1, dtype=np.int64)
    groups: list[CollusionGroup] = []
    if linked.any():
        graph = sp.coo_matrix(
            (np.ones(int(linked.sum())), (u[linked], v[linked])), shape=(n_workers, n_workers)
        )
        _, membership = connected_components(graph, directed=False)
        in_link = np.zeros(n_workers, dtype=bool)
        in_link[u[linked]] = True
        in_link[v[linked]] = True
        for component in np.unique(membership[in_link]):
            members = np.flatnonzero(in_link & (membership == component))
            inside = linked & np.isin(u, members) & np.isin(v, members)
            group_of[members] = len(groups)
            groups.append(
                CollusionGroup(
                    members=[int(m) for m in members],
                    shared_items=int(n_shared[inside].sum()),
                    agreed=int(n_agreed[inside].sum()),
                    agree_against=int(a[inside].sum()),
                    expected=float(expected[inside].sum()),
                )
            )
    return CollusionResult(groups, group_of, int(u.size), int(eligible.sum()))


def annotator_flags(
    item: npt.ArrayLike,
    worker: npt.ArrayLike,
    label: npt.ArrayLike,
    *,
    flipped: npt.ArrayLike,
    seconds: npt.ArrayLike,
    time: npt.ArrayLike,
    consensus: npt.ArrayLike,
    n_workers: int | None = None,
    gold_item: npt.ArrayLike | None = None,
    gold_label: npt.ArrayLike | None = None,
    confusion: npt.ArrayLike | None = None,
    exempt: npt.ArrayLike | None = None,
    thresholds: FlagThresholds | None = None,
) -> AnnotatorFlags:
    """Every flag for every annotator, from parallel vote arrays; `exempt` workers are never flagged.

    `consensus` (per item, NO_WINNER for none) scores agreement as in `annotator_stats`.
    `seconds` may be NaN where unknown; `time` orders each annotator's votes.
    """
    t = thresholds or FlagThresholds()
    consensus_array = np.asarray(consensus, dtype=np.int64)
    votes = validated_votes(item, worker, label, n_items=consensus_array.size, n_workers=n_workers)
    n, n_items = votes.n_workers, votes.n_items
    flipped_array = np.asarray(flipped, dtype=bool)
    seconds_array = np.asarray(seconds, dtype=np.float64)
    time_array = np.asarray(time, dtype=np.float64)
    if time_array.shape != votes.item.shape:
        raise ValueError("time needs one entry per vote")
    exempt_array = np.zeros(n, dtype=bool) if exempt is None else np.asarray(exempt, dtype=bool)
    known_seconds = ~np.isnan(seconds_array)
    # The median over the votes whose time is known; annotators with none get NaN.
    stats = (
        annotator_stats(
            votes.item[known_seconds],
            votes.worker[known_seconds],
            votes.label[known_seconds],
            flipped=flipped_array[known_seconds],
            seconds=seconds_array[known_seconds],
            consensus=consensus_array,
            n_workers=n,
        )
        if known_seconds.any()
        else None
    )
    full = annotator_stats(
        votes.item,
        votes.worker,
        votes.label,
        flipped=flipped_array,
        seconds=seconds_array,
        consensus=consensus_array,
        n_workers=n,
        gold_item=gold_item,
        gold_label=gold_label,
        confusion=confusion,
    )
    median = stats.median_seconds if stats is not None else np.full(n, np.nan)
    full = AnnotatorStats(**{**full.__dict__, "median_seconds": median})

    gold_of_item = np.full(n_items, NO_WINNER, dtype=np.int64)
    if gold_item is not None and gold_label is not None:
        gold_of_item[np.asarray(gold_item, dtype=np.int64)] = np.asarray(gold_label, dtype=np.int64)
    vote_gold = gold_of_item[votes.item]
    on_gold = vote_gold != NO_WINNER
    reference = np.where(on_gold, vote_gold, leave_one_out_majority(votes.item, votes.label, n_items))
    scored = (reference != NO_WINNER) & ~exempt_array[votes.worker]
    side_p = side_test(
        votes.worker, votes.label, flipped_array, reference, n_workers=n, min_votes=t.position_min_votes
    )
    position_p = np.where(np.isnan(side_p), full.position_bias_p_value, side_p)
    drift = drift_test(
        votes.worker,
        votes.label == reference,
        scored,
        time_array,
        n_workers=n,
        on_gold=on_gold,
        min_segment=t.drift_min_segment,
        p_threshold=t.drift_p,
        min_drop=t.drift_min_drop,
    )
    collusion = collusion_test(
        votes.item,
        votes.worker,
        votes.label,
        n_items=n_items,
        n_workers=n,
        p_threshold=t.collusion_p,
        min_shared=t.collusion_min_shared,
        min_ratio=t.collusion_min_ratio,
        exclude=exempt_array,
    )

    unavailable: dict[str, str] = {}
    if not on_gold.any():
        unavailable["gold"] = "No gold items have votes, so gold accuracy cannot be measured."
    elif not (full.gold_votes[~exempt_array] >= t.min_gold_items).any():
        unavailable["gold"] = (
            f"No annotator has answered {t.min_gold_items} gold items yet, the minimum before this flag can fire."
        )
    if not known_seconds[~exempt_array[votes.worker]].any():
        unavailable["fast"] = "No vote records how long it took, so the too-fast flag cannot be computed."
    if int((full.left_picks + full.right_picks)[~exempt_array].sum()) == 0:
        unavailable["position"] = "No vote picks a side (a or b), so position bias cannot be tested."
    if not (drift.scored_votes >= 2 * t.drift_min_segment).any():
        unavailable["drift"] = (
            f"No annotator has {2 * t.drift_min_segment} votes with a reference (a gold answer or a majority "
            "of the other votes), so no change in accuracy can be tested."
        )
    if collusion.eligible_items == 0:
        unavailable["collusion"] = (
            "No item has three or more votes, so nobody can be seen agreeing against the others."
        )

    flags = {
        "gold": (full.gold_votes >= t.min_gold_items)
        & (np.nan_to_num(full.gold_accuracy, nan=1.0) < t.min_gold_accuracy),
        "position": np.nan_to_num(position_p, nan=1.0) < t.position_bias_p,
        "fast": np.nan_to_num(median, nan=np.inf) < t.min_median_seconds,
        "drift": drift.flagged,
        "collusion": collusion.group_of >= 0,
    }
    flags = {name: value & ~exempt_array for name, value in flags.items()}
    return AnnotatorFlags(
        stats=full,
        drift=drift,
        collusion=collusion,
        side_p_value=side_p,
        position_p_value=position_p,
        flags=flags,
        unavailable=unavailable,
    )
