"""Flags for unreliable annotators, with the evidence behind each one.

Five flags, each answering one question about an annotator:

* ``gold`` — is their accuracy on gold items under the floor (after enough gold)?
* ``position`` — does the side a response is shown on change their answer? Where the
  other votes on the item prefer a side, an annotator without position bias picks
  the left response as often when the preferred one is on the left as they leave it
  when it is on the right (the display order is random), so
  T = P(left | preferred on left) + P(left | preferred on right) − 1 is 0; a bias r
  towards the left makes T = r. This two-proportion test (``side_test``) conditions on
  the content and has about 1.4× the power of the plain binomial test of left-vs-right
  clicks (which is still reported, and used when either side has under
  `position_min_votes` votes).
* ``fast`` — is their median time per item under the floor?
* ``drift`` — did they get worse? (``annotate.aggregation.drift``)
* ``collusion`` — do they agree with others against everyone else far more than chance?
  Needs no gold (``annotate.aggregation.collusion``).

A flag that cannot be computed says why (no gold, no timings, no item with enough
votes) instead of silently never firing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy.stats import norm

from annotate.aggregation.annotator_stats import AnnotatorStats, annotator_stats
from annotate.aggregation.collusion import CollusionResult, collusion_test
from annotate.aggregation.drift import DriftResult, drift_test
from annotate.aggregation.labels import NO_WINNER, is_decisive, picked_left
from annotate.aggregation.leave_one_out import leave_one_out_majority
from annotate.aggregation.majority import majority_vote
from annotate.aggregation.votes import (
    BoolArray,
    FloatArray,
    IntArray,
    VoteSample,
    item_gold_labels,
    validated_votes,
)

FLAG_NAMES: Final = ("gold", "position", "fast", "drift", "collusion")


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
    decisive = is_decisive(label) & is_decisive(reference)
    left = picked_left(label, flipped)
    reference_left = picked_left(reference, flipped)
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
    median = full.median_seconds

    vote_gold = item_gold_labels(n_items, gold_item, gold_label)[votes.item]
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


def annotator_flags_for(
    votes: VoteSample,
    *,
    gold_item: IntArray | None = None,
    gold_label: IntArray | None = None,
    confusion: npt.ArrayLike | None = None,
    exempt: npt.ArrayLike | None = None,
    thresholds: FlagThresholds | None = None,
) -> AnnotatorFlags:
    """`annotator_flags` of a set of votes, with the consensus the quality page scores agreement against."""
    majority = majority_vote(votes.item, votes.label, n_items=votes.n_items)
    is_gold = np.zeros(votes.n_items, dtype=bool)
    if gold_item is not None:
        is_gold[gold_item] = True
    # Items with a single vote or no strict winner say nothing about agreement, and gold
    # items are scored against their answer instead: none of them has a consensus here.
    consensus = np.where((majority.votes >= 2) & ~is_gold, majority.winner, NO_WINNER)
    return annotator_flags(
        votes.item,
        votes.worker,
        votes.label,
        flipped=votes.flipped,
        seconds=votes.seconds,
        time=votes.time,
        consensus=consensus,
        n_workers=votes.n_workers,
        gold_item=gold_item,
        gold_label=gold_label,
        confusion=confusion,
        exempt=exempt,
        thresholds=thresholds,
    )
