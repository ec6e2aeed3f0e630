"""What aggregation does with flagged annotators' votes, and the position-aware Dawid–Skene.

Three modes for the votes of flagged annotators:

* ``keep`` — use every vote as it is (the unfiltered baseline);
* ``drop`` — leave out every vote of a flagged annotator;
* ``downweight`` — keep them, with less weight: a colluder's votes nearly none (their
  agreement is manufactured, so it must not count as independent evidence), a
  drifting annotator's votes only from their change-point on, a position-biased
  one's not at all when the aggregation models the display side (they are corrected
  instead), the others half.

Biased but informative votes are worth keeping: an annotator who picks the left side
40% of the time is still right on most of the rest, and dropping them loses those
votes (on the issue's crowd, Dawid–Skene fell from 0.967 to 0.957 that way).

Position-aware Dawid–Skene (`dawid_skene(model="left_pick")`): each annotator gets a
share r of "pick whatever is on the left" answers on top of their confusion matrix,
P(given | truth, order) = (1 − r)·C[given, truth] + r·[given is the left response], so a
biased annotator's votes are corrected rather than discarded. One matrix per display
order fits the same thing with twice the parameters and measured worse. A drifting
annotator's votes before and after their change-point are two annotators to
Dawid–Skene, so the careless phase gets its own confusion matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import numpy as np

from annotate.aggregation.dawid_skene import DawidSkeneResult, dawid_skene
from annotate.aggregation.flags import FLAG_NAMES, AnnotatorFlags
from annotate.aggregation.labels import N_LABELS
from annotate.aggregation.majority import majority_vote
from annotate.aggregation.votes import BoolArray, FloatArray, IntArray, VoteSample

FlaggedMode = Literal["keep", "drop", "downweight"]
FLAGGED_MODES: Final = ("keep", "drop", "downweight")
AggregationName = Literal["majority", "dawid_skene"]
# What a snapshot does with flagged annotators unless told otherwise, chosen by
# bench/quality.py: down-weighting never lowered Dawid–Skene's accuracy against using
# every vote as it is, on any crowd and seed, and raised it by 0.5–3.5 points on the
# crowds with colluders or drifters; dropping lowered it on most. The left-pick
# correction of position-flagged annotators gained 0.04–0.06 points on average on the
# left-biased crowds but lost one item in 5,400 on one seed (a falsely flagged honest
# annotator), so it is offered (`position_aware`) rather than the default.
DEFAULT_FLAGGED_MODE: Final = "downweight"
DEFAULT_POSITION_AWARE: Final = False

# Weight of a flagged annotator's votes in "downweight" mode, per flag (the smallest applies).
# Collusion: copies of one judgment are one judgment, so a group's votes count as little
# more than nothing. Drift: only the votes from the change-point on. Gold, fast and
# (without the position-aware model) position: half, since such votes still carry signal.
DOWNWEIGHT: Final = {"gold": 0.5, "position": 0.5, "fast": 0.5, "drift": 0.25, "collusion": 0.05}
# Dawid–Skene already learns how often a weak, hasty or biased annotator errs and weighs
# their votes by it; down-weighting them as well throws information away (measured in
# bench/quality.py). What it cannot model is votes that are not independent given the
# truth (collusion) or a reliability that changes (drift: the careless phase gets its
# own confusion matrix and half weight, which measured better than either alone).
DOWNWEIGHT_DAWID_SKENE: Final = {"gold": 1.0, "position": 1.0, "fast": 1.0, "drift": 0.5, "collusion": 0.05}


@dataclass(frozen=True)
class VoteTreatment:
    """Per vote: whether it is used, its weight, and its phase (1 = after its annotator's change-point)."""

    keep: BoolArray
    weight: FloatArray
    phase: IntArray
    left_pick: BoolArray | None = None
    """Per worker: who gets a left-pick share in position-aware Dawid–Skene (None: everyone)."""


def vote_treatment(
    *,
    flags: AnnotatorFlags,
    worker: IntArray,
    mode: FlaggedMode,
    position_aware: bool = False,
    method: AggregationName = "majority",
) -> VoteTreatment:
    """How each vote enters aggregation under `mode`; position-flagged votes are not down-weighted when corrected."""
    if mode not in FLAGGED_MODES:
        raise ValueError(f"flagged mode must be one of {', '.join(FLAGGED_MODES)}, got {mode!r}")
    n_votes = worker.size
    if mode == "keep":
        return VoteTreatment(
            np.ones(n_votes, dtype=bool), np.ones(n_votes), np.zeros(n_votes, dtype=np.int64)
        )
    if mode == "drop":
        return VoteTreatment(~flags.any_flag[worker], np.ones(n_votes), np.zeros(n_votes, dtype=np.int64))
    phase = flags.drift.late.astype(np.int64)
    weight = np.ones(n_votes)
    table = DOWNWEIGHT_DAWID_SKENE if method == "dawid_skene" else DOWNWEIGHT
    for name in FLAG_NAMES:
        if name == "position" and position_aware:
            continue
        hit = flags.flags[name][worker]
        if name == "drift":
            hit = hit & flags.drift.late
        weight = np.where(hit, np.minimum(weight, table[name]), weight)
    # Correct only the annotators the position test flagged: for the others a left-pick
    # share is a parameter fitted to noise (it cost accuracy on crowds without bias).
    return VoteTreatment(np.ones(n_votes, dtype=bool), weight, phase, flags.flags["position"].copy())


@dataclass(frozen=True)
class AggregatedLabels:
    """Per item: the label, the confidence behind it, and for Dawid–Skene the full posteriors."""

    labels: IntArray
    """NO_WINNER (-1) where an item has no votes or a tie for first place."""
    posterior: FloatArray
    """Dawid–Skene's top posterior, or majority vote's winning (weighted) vote share."""
    posteriors: FloatArray | None
    ds: DawidSkeneResult | None


def aggregate_labels(
    *,
    votes: VoteSample,
    method: AggregationName,
    treatment: VoteTreatment | None = None,
    position_aware: bool = False,
    gold_item: IntArray | None = None,
    gold_label: IntArray | None = None,
) -> AggregatedLabels:
    """Aggregate the votes `treatment` keeps, with its weights; Dawid–Skene optionally per display order.

    Gold answers clamp Dawid–Skene's posteriors; a majority vote does not use them.
    """
    n_items, n_workers = votes.n_items, votes.n_workers
    if treatment is None:
        n_votes = votes.item.size
        treatment = VoteTreatment(
            np.ones(n_votes, dtype=bool), np.ones(n_votes), np.zeros(n_votes, dtype=np.int64)
        )
    keep = treatment.keep
    item, worker, label, flipped = (
        votes.item[keep],
        votes.worker[keep],
        votes.label[keep],
        votes.flipped[keep],
    )
    weight, phase = treatment.weight[keep], treatment.phase[keep]
    if method == "majority":
        mv = majority_vote(item, label, n_items=n_items, weight=weight)
        return AggregatedLabels(mv.winner, np.nan_to_num(mv.agreement), None, None)
    if method != "dawid_skene":
        raise ValueError(f"method must be 'majority' or 'dawid_skene', got {method!r}")
    # Each (worker, phase) is one annotator to Dawid–Skene: a drifting annotator's careless
    # phase gets its own confusion matrix. Its votes' weights agree by construction.
    virtual = worker * 2 + phase
    segment_weight = np.ones(n_workers * 2)
    if weight.size:
        lowest = np.full(n_workers * 2, np.inf)
        np.minimum.at(lowest, virtual, weight)
        segment_weight = np.where(np.isfinite(lowest), lowest, 1.0)
    ds = dawid_skene(
        item,
        virtual,
        label,
        n_items=n_items,
        n_workers=n_workers * 2,
        model="left_pick" if position_aware else "full",
        flipped=flipped if position_aware else None,
        left_pick_workers=None if treatment.left_pick is None else np.repeat(treatment.left_pick, 2),
        worker_weight=segment_weight if (segment_weight < 1).any() else None,
        gold_item=gold_item,
        gold_label=gold_label,
    )
    top2 = np.sort(ds.posteriors, axis=1)[:, -2:]
    labels = np.where(top2[:, 1] > top2[:, 0], ds.labels, -1).astype(np.int64)
    return AggregatedLabels(labels, top2[:, 1], ds.posteriors, ds)


def per_class_accuracy(predicted: IntArray, truth: IntArray) -> list[float | None]:
    """Share of items of each true class (a, b, tie, both_bad) given their true label; None for an absent class."""
    shares: list[float | None] = []
    for code in range(N_LABELS):
        mine = truth == code
        shares.append(float((predicted[mine] == code).mean()) if mine.any() else None)
    return shares
