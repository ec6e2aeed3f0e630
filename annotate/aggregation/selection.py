"""Which aggregated pairs become training pairs: the filters, the selection and its arithmetic.

Pure NumPy over ``ProjectVotes`` (no Django): ``annotate.selectors.pairs`` loads the votes
and the annotator flags and calls ``select_pairs``; the snapshot service freezes the
``PairSelection`` it returns.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, Final, get_args

import numpy as np

from annotate.aggregation.flags import AnnotatorFlags
from annotate.aggregation.labels import (
    LABEL_A,
    LABEL_B,
    LABEL_BOTH_BAD,
    LABEL_TIE,
    N_LABELS,
    NO_WINNER,
    is_decisive,
)
from annotate.aggregation.treatment import (
    DEFAULT_FLAGGED_MODE,
    DEFAULT_POSITION_AWARE,
    AggregationName,
    FlaggedMode,
    VoteTreatment,
    aggregate_labels,
    vote_treatment,
)
from annotate.aggregation.votes import BoolArray, FloatArray, IntArray, ProjectVotes, value_counts
from annotate.options import OptionInvalid

AGGREGATION_NAMES: Final = get_args(AggregationName)
# Why comparisons were dropped (in the order the filters apply) and what happened to votes.
COUNT_KEYS: Final = (
    "comparisons",
    "no_votes",
    "too_few_votes",
    "no_winner",
    "tie_or_both_bad",
    "low_agreement",
    "low_posterior",
    "pairs",
    "votes_used",
    "votes_dropped_flagged",
    "votes_dropped_ties",
    "votes_downweighted",
    # With keep_unpaired: comparisons kept whose verdict is both-bad or tie (rows, not pairs).
    "kept_both_bad",
    "kept_tie",
)


_KIND_WORDS = {bool: "true or false", int: "a whole number", str: "a string"}


@dataclass(frozen=True)
class SnapshotFilters:
    """Which aggregated pairs become training pairs. Stored as JSON on the snapshot."""

    method: str = "majority"
    min_votes: int = 1
    min_agreement: float = 0.5
    min_posterior: float = 0.0
    # Leave tie and both-bad votes out of the count: winner and agreement are then
    # computed among the votes that prefer a side. A pair whose winner is tie or
    # both-bad has no chosen response and is never kept either way.
    drop_ties: bool = True
    # Act on flagged annotators' votes (False: use every vote as it is) ...
    drop_flagged: bool = True
    # ... by "downweight"-ing them (colluders nearly to nothing, a drifting annotator's
    # votes from the change-point on; see aggregation.treatment) or by "drop"-ping all
    # their votes. Down-weighting measured best in bench/quality.py: it never lowered
    # Dawid–Skene's accuracy against using every vote, where dropping did.
    flagged_votes: str = DEFAULT_FLAGGED_MODE
    # Dawid–Skene fits a left-pick share for position-flagged annotators when down-weighting.
    position_aware: bool = DEFAULT_POSITION_AWARE
    # Keep the comparisons whose verdict is both-bad or tie too, as rows of their kind of vote,
    # for the unpaired (KTO) export: both responses of a both-bad comparison are undesirable,
    # a tie's two are desirable when the export asks for them. Pairwise exports skip those rows.
    # Off by default, so that a snapshot without it is what it always was.
    keep_unpaired: bool = False

    def __post_init__(self) -> None:
        for f in fields(self):  # stored as JSON and sent by API clients: "false" must not read as true
            value, kind = getattr(self, f.name), type(f.default)
            if kind is float:
                number = isinstance(value, int | float) and not isinstance(value, bool)
                if not (number and math.isfinite(value)):
                    raise OptionInvalid(f.name, f"must be a finite number, got {value!r}")
            elif not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise OptionInvalid(f.name, f"must be {_KIND_WORDS[kind]}, got {value!r}")
        if self.keep_unpaired and self.drop_ties:
            # With tie and both-bad votes left out, no comparison can have such a verdict.
            raise OptionInvalid("keep_unpaired", "needs tie and both-bad votes counted, not ignored (drop_ties off)")
        if self.flagged_votes not in ("drop", "downweight"):
            raise OptionInvalid("flagged_votes", f"must be 'drop' or 'downweight', got {self.flagged_votes!r}")
        if self.method not in AGGREGATION_NAMES:
            raise OptionInvalid("method", f"must be one of {list(AGGREGATION_NAMES)}, got {self.method!r}")
        if self.min_votes < 1:
            raise OptionInvalid("min_votes", "must be at least 1")
        for name in ("min_agreement", "min_posterior"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise OptionInvalid(name, "must lie in [0, 1]")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SnapshotFilters:
        known = {k: raw[k] for k in cls.__dataclass_fields__ if k in raw}
        return cls(**known)


@dataclass(frozen=True)
class PairSelection:
    """The pairs that pass, as arrays in comparison-id order, and why the others did not."""

    comparison_id: IntArray
    chosen_is_a: BoolArray
    margin: FloatArray  # NaN = null
    agreement: FloatArray
    votes: IntArray
    posterior: FloatArray
    # The verdict (aggregation.labels): LABEL_A/LABEL_B for a pair, LABEL_TIE/LABEL_BOTH_BAD for a
    # row kept by keep_unpaired, whose "chosen" is then response A and "rejected" response B.
    verdict: IntArray
    chosen_response_id: IntArray
    rejected_response_id: IntArray
    counts: dict[str, int]
    flagged: list[str]

    @property
    def pair_count(self) -> int:
        return int(self.comparison_id.size)

    def kind_counts(self) -> dict[str, int]:
        """The rows of each kind of vote: ``pairs`` (a preference), ``kept_both_bad`` and ``kept_tie``."""
        both_bad = int((self.verdict == LABEL_BOTH_BAD).sum())
        tie = int((self.verdict == LABEL_TIE).sum())
        return {"pairs": self.pair_count - both_bad - tie, "kept_both_bad": both_bad, "kept_tie": tie}

    def take(self, keep: BoolArray) -> PairSelection:
        """The same selection with only the pairs where ``keep`` is True (counts and flagged names as they were)."""
        pairs = {
            f.name: getattr(self, f.name)[keep] for f in fields(self) if f.name not in ("counts", "flagged")
        }
        return PairSelection(**pairs, counts=dict(self.counts), flagged=list(self.flagged))


def select_pairs(
    *,
    votes: ProjectVotes,
    filters: SnapshotFilters,
    comparisons: int,
    flags: AnnotatorFlags | None = None,
    flagged: Sequence[str] = (),
) -> PairSelection:
    """Aggregate the votes and keep the non-gold pairs that pass every filter.

    ``comparisons`` counts the project's non-gold comparisons (with votes or not);
    ``flags`` are the annotator flags of these votes and ``flagged`` the flagged
    annotators' names, both unused unless ``filters`` act on flagged votes. Each dropped
    comparison is counted once, under the first filter it fails, in the order of the
    ``counts`` keys.
    """
    counts = dict.fromkeys(COUNT_KEYS, 0)
    counts["comparisons"] = comparisons
    keep = np.ones(votes.item.size, dtype=bool)
    weight = np.ones(votes.item.size)
    phase = np.zeros(votes.item.size, dtype=np.int64)
    left_pick = None
    mode: FlaggedMode = filters.flagged_votes if filters.drop_flagged else "keep"  # type: ignore[assignment]
    method: AggregationName = "dawid_skene" if filters.method == "dawid_skene" else "majority"
    acting = mode != "keep" and bool(votes.item.size)
    # No flags without votes from people (only imported verdicts): nothing to treat.
    if acting and flags is not None:
        treatment = vote_treatment(
            flags=flags,
            worker=votes.worker,
            mode=mode,
            position_aware=filters.position_aware,
            method=method,
        )
        counts["votes_dropped_flagged"] = int((~treatment.keep).sum())
        counts["votes_downweighted"] = int((treatment.weight < 1).sum())
        keep &= treatment.keep
        weight, phase, left_pick = treatment.weight, treatment.phase, treatment.left_pick
    if filters.drop_ties:
        undecided = ~is_decisive(votes.label)
        counts["votes_dropped_ties"] = int((undecided & keep).sum())
        keep &= ~undecided
    used = votes.subset(keep)
    counts["votes_used"] = int(used.item.size)
    n_items = votes.n_items
    label_counts = value_counts(used)
    n_votes = label_counts.sum(axis=1).astype(np.int64)
    # Agreement is the winner's share of the vote *weight*: a down-weighted vote disagrees less.
    weighted_counts = np.bincount(
        used.item * N_LABELS + used.label, weights=weight[keep], minlength=votes.n_items * N_LABELS
    ).reshape(votes.n_items, N_LABELS)
    if used.item.size:
        gold = np.flatnonzero(votes.is_gold & (votes.gold_label >= 0))
        aggregated = aggregate_labels(
            votes=votes,
            method=method,
            treatment=VoteTreatment(keep, weight, phase, left_pick),
            position_aware=method == "dawid_skene" and mode == "downweight" and filters.position_aware,
            gold_item=gold,
            gold_label=votes.gold_label[gold],
        )
        winner, posterior = aggregated.labels, aggregated.posterior
    else:
        winner, posterior = np.full(n_items, NO_WINNER, dtype=np.int64), np.zeros(n_items)
    safe_winner = np.where(winner >= 0, winner, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        total_weight = weighted_counts.sum(axis=1)
        agreement = np.where(
            total_weight > 0,
            weighted_counts[np.arange(n_items), safe_winner] / np.where(total_weight > 0, total_weight, 1),
            0.0,
        )
    # Margin: Llama 2 strengths of the votes that agree with the winner, averaged over those that state one.
    agreeing = (used.label == winner[used.item]) & (used.strength >= 0)
    strength_sum = np.bincount(used.item[agreeing], weights=used.strength[agreeing], minlength=n_items)
    strength_n = np.bincount(used.item[agreeing], minlength=n_items)
    with np.errstate(invalid="ignore", divide="ignore"):
        margin = np.where(strength_n > 0, strength_sum / np.maximum(strength_n, 1), np.nan)

    candidate = ~votes.is_gold
    unpaired = (winner == LABEL_TIE) | (winner == LABEL_BOTH_BAD)
    stages = [
        ("no_votes", n_votes > 0),
        ("too_few_votes", n_votes >= filters.min_votes),
        ("no_winner", winner != NO_WINNER),
        ("tie_or_both_bad", (winner == LABEL_A) | (winner == LABEL_B) | (unpaired & filters.keep_unpaired)),
        ("low_agreement", agreement >= filters.min_agreement - 1e-12),
        ("low_posterior", posterior >= filters.min_posterior - 1e-12),
    ]
    passing = candidate.copy()
    for name, ok in stages:
        counts[name] = int((passing & ~ok).sum())
        passing &= ok
    # Comparisons without any judgment never reached the arrays.
    counts["no_votes"] += comparisons - int(candidate.sum())
    order = np.flatnonzero(passing)
    order = order[np.argsort(votes.comparison_id[order], kind="stable")]
    verdict = winner[order]
    # A both-bad or tie row lists response A first, as chosen_is_a=True (neither is preferred).
    chosen_is_a = verdict != LABEL_B
    selection = PairSelection(
        comparison_id=votes.comparison_id[order],
        chosen_is_a=chosen_is_a,
        margin=margin[order],
        agreement=agreement[order],
        votes=n_votes[order],
        posterior=posterior[order],
        verdict=verdict,
        chosen_response_id=np.where(chosen_is_a, votes.response_a_id[order], votes.response_b_id[order]),
        rejected_response_id=np.where(chosen_is_a, votes.response_b_id[order], votes.response_a_id[order]),
        counts=counts,
        flagged=list(flagged) if acting else [],
    )
    counts.update(selection.kind_counts())
    return selection
