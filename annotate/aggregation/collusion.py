"""The ``collusion`` flag, which needs no gold: annotators who agree with each other against everyone else.

For every pair of annotators who voted on the same items, count the items where the two
gave the *same* answer and the other votes on the item (everyone but the pair) preferred
a different one. Independent annotators do that about as often as any two annotators who
agree are outvoted by the rest (measured over the whole crowd, per number of votes on the
item) times the items where they agreed; a pair far above that (Poisson upper tail,
Bonferroni over all pairs, and at least `min_ratio` times the expectation) is linked, and
linked annotators form a group (connected components).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.stats import poisson

from annotate.aggregation.labels import N_LABELS
from annotate.aggregation.leave_one_out import label_counts
from annotate.aggregation.votes import BoolArray, FloatArray, IntArray


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
    counts = label_counts(item, label, n_items)
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
