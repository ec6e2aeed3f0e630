"""Chance-corrected agreement for a project or batch: Krippendorff's α (nominal) and Fleiss' κ."""

from __future__ import annotations

import krippendorff
import numpy as np
import numpy.typing as npt

from annotate.aggregation.labels import N_LABELS
from annotate.aggregation.votes import validated_votes


def label_counts_by_item(
    item: npt.ArrayLike, label: npt.ArrayLike, *, n_items: int | None = None
) -> npt.NDArray[np.int64]:
    """Return the (n_items, 4) table of how many votes each item got per label."""
    item_array = np.asarray(item)
    votes = validated_votes(item_array, np.zeros(item_array.shape, dtype=np.int64), label, n_items=n_items)
    return np.bincount(votes.item * N_LABELS + votes.label, minlength=votes.n_items * N_LABELS).reshape(
        votes.n_items, N_LABELS
    )


def krippendorff_alpha(item: npt.ArrayLike, label: npt.ArrayLike, *, n_items: int | None = None) -> float:
    """Return Krippendorff's α (nominal) over the votes, computed by the `krippendorff` package; NaN if undefined.

    The reliability data go in as the (items × values) count table, which the
    package accepts as `value_counts` and which is exactly what its
    (coders × items) matrix reduces to — built with one bincount instead of a
    mostly-empty coders × items matrix (1,000 annotators × 333k items would be 2.6 GB).
    Items with a single vote are not pairable; the package ignores them, as α prescribes.
    """
    counts = label_counts_by_item(item, label, n_items=n_items)
    pairable = counts.sum(axis=1) >= 2
    if not pairable.any() or np.count_nonzero(counts[pairable].sum(axis=0)) < 2:
        # One value or no pairable unit: α is 0/0. (The package raises here.)
        return float("nan")
    return float(
        krippendorff.alpha(
            value_counts=counts[pairable],
            value_domain=list(range(N_LABELS)),
            level_of_measurement="nominal",
        )
    )


def fleiss_kappa_from_counts(counts: npt.ArrayLike) -> float:
    """Return Fleiss' κ for an (items × categories) rating-count table, allowing a varying number of raters.

    Items with fewer than two ratings carry no agreement information and are left
    out. With varying numbers of raters n_i we use the usual generalisation: the
    per-item agreement P_i = Σ_j n_ij(n_ij − 1) / (n_i(n_i − 1)) is averaged over
    items with equal weight, and category shares p_j are pooled over all ratings,
    κ = (P̄ − P_e) / (1 − P_e) with P_e = Σ_j p_j². With a constant n it is exactly
    Fleiss (1971). NaN when P_e = 1 (every rating in one category).
    """
    table = np.asarray(counts, dtype=np.float64)
    if table.ndim != 2:
        raise ValueError("counts must be a two-dimensional items × categories table")
    raters = table.sum(axis=1)
    table = table[raters >= 2]
    raters = raters[raters >= 2]
    if table.shape[0] == 0:
        return float("nan")
    per_item_agreement = (table * (table - 1.0)).sum(axis=1) / (raters * (raters - 1.0))
    mean_agreement = float(per_item_agreement.mean())
    category_share = table.sum(axis=0) / raters.sum()
    chance_agreement = float(np.sum(category_share**2))
    if chance_agreement >= 1.0:
        return float("nan")
    return (mean_agreement - chance_agreement) / (1.0 - chance_agreement)


def fleiss_kappa(item: npt.ArrayLike, label: npt.ArrayLike, *, n_items: int | None = None) -> float:
    """Return Fleiss' κ over the votes (see `fleiss_kappa_from_counts` for varying numbers of raters)."""
    return fleiss_kappa_from_counts(label_counts_by_item(item, label, n_items=n_items))
