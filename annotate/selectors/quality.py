"""Per-annotator quality: gold accuracy, agreement, position bias, speed, Dawid–Skene diagonal and flags.

Imported judgments (``annotator=None``) are the votes of one "imported" pseudo-annotator:
they count in aggregation (``annotate.selectors.pairs``) but not in annotator statistics or
flags, and are reported apart (``ImportedVerdicts``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from django.contrib.auth import get_user_model

from annotate.aggregation.dawid_skene import DawidSkeneResult, dawid_skene
from annotate.aggregation.flags import (
    AnnotatorFlags,
    FlagThresholds,
    annotator_flags_for,
)
from annotate.aggregation.labels import (
    N_LABELS,
    NO_WINNER,
)
from annotate.aggregation.leave_one_out import agreement_with_others, label_counts
from annotate.aggregation.votes import FloatArray, ProjectVotes
from annotate.importing.kinds import IMPORTED_LABEL
from annotate.models import (
    Project,
    Response,
)
from annotate.selectors.agreement import ImportedVerdicts, imported_verdicts, nan_to_none
from annotate.selectors.votes import project_votes

# The name the pages and the API give the imported pseudo-annotator.
IMPORTED = "imported"


@dataclass(frozen=True)
class DriftEvidence:
    """The recent window behind a drift flag (or a drift test that did not fire)."""

    scored_votes: int  # votes with a reference: the gold answer, or a majority of the other votes
    change_at: dt.datetime  # first vote of the recent window
    earlier_votes: int
    earlier_accuracy: float
    recent_votes: int
    recent_accuracy: float
    recent_gold_votes: int
    recent_gold_accuracy: float | None
    earlier_gold_accuracy: float | None
    p_value: float


@dataclass(frozen=True)
class CollusionEvidence:
    """A group of annotators who agree with each other against everyone else far more than chance."""

    number: int  # 1-based, as shown on the page
    members: list[str]
    annotator_ids: list[int | None]
    shared_items: int
    agreed: int
    agree_against: int
    rate: float  # agree_against / shared_items
    expected: float  # agree_against expected by chance
    expected_rate: float


def _nan_as_none(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, list):
        return [_nan_as_none(v) for v in value]
    return value


@dataclass(frozen=True)
class AnnotatorQuality:
    annotator_id: int | None
    name: str
    votes: int
    gold_items: int
    gold_accuracy: float | None
    # Agreement with the majority of the other people's votes on the item (gold items
    # are scored against their answer instead), over ``consensus_votes`` votes;
    # ``no_consensus`` votes were on items where the others split evenly.
    consensus_agreement: float | None
    decisive_votes: int
    left_share: float | None
    bias_p: float | None
    median_seconds: float | None
    ds_diagonal: list[
        float | None
    ]  # P(answers k | truth k) for a, b, tie, both_bad; None where never answered
    flags: list[str] = field(default_factory=list)
    side_p: float | None = None  # content-conditioned position test (see aggregation.flags)
    drift: DriftEvidence | None = None
    collusion_group: int | None = None  # CollusionEvidence.number
    consensus_votes: int = 0
    no_consensus: int = 0
    imported_items: int = 0  # votes on comparisons that also carry an imported verdict
    imported_agreement: float | None = None  # share of those equal to the imported verdict

    @property
    def is_imported(self) -> bool:
        return self.annotator_id is None

    def as_dict(self) -> dict[str, Any]:
        """The fields as a dict for JSON, which has no NaN: a "never answered" NaN becomes None."""
        return {k: _nan_as_none(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class AnnotatorReport:
    annotators: list[AnnotatorQuality]
    confusion: FloatArray  # (workers, 4, 4) Dawid–Skene, rows = true label, columns = given label
    pooled_confusion: FloatArray  # (4, 4) vote-weighted mean of the rows above
    groups: list[CollusionEvidence] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)  # flag → why it cannot be computed here
    flags: AnnotatorFlags | None = None  # per worker index (and per vote) of the votes the report was given
    imported: ImportedVerdicts | None = None  # kept out of every figure above

    @property
    def flagged_ids(self) -> set[int | None]:
        return {a.annotator_id for a in self.annotators if a.flags}


def _dawid_skene(votes: ProjectVotes) -> DawidSkeneResult:
    gold = np.flatnonzero(votes.is_gold & (votes.gold_label >= 0))
    return dawid_skene(
        votes.item,
        votes.worker,
        votes.label,
        n_items=votes.n_items,
        n_workers=votes.n_workers,
        gold_item=gold,
        gold_label=votes.gold_label[gold],
    )


def _names(ids: Iterable[int | None]) -> dict[int | None, str]:
    real = [i for i in ids if i is not None]
    names: dict[int | None, str] = {None: IMPORTED}
    names.update(get_user_model().objects.filter(pk__in=real).values_list("pk", "username"))
    return names


def _thresholds(project: Project) -> FlagThresholds:
    return FlagThresholds(
        min_gold_accuracy=project.min_gold_accuracy,
        min_gold_items=project.min_gold_items,
        position_bias_p=project.position_bias_p,
        min_median_seconds=project.min_median_seconds,
    )


def _drift_evidence(flags: AnnotatorFlags, w: int) -> DriftEvidence | None:
    d = flags.drift
    if np.isnan(d.p_value[w]):
        return None
    return DriftEvidence(
        scored_votes=int(d.scored_votes[w]),
        change_at=dt.datetime.fromtimestamp(float(d.change_time[w]), tz=dt.UTC),
        earlier_votes=int(d.earlier_votes[w]),
        earlier_accuracy=float(d.earlier_accuracy[w]),
        recent_votes=int(d.recent_votes[w]),
        recent_accuracy=float(d.recent_accuracy[w]),
        recent_gold_votes=int(d.recent_gold_votes[w]),
        recent_gold_accuracy=nan_to_none(d.recent_gold_accuracy[w]),
        earlier_gold_accuracy=nan_to_none(d.earlier_gold_accuracy[w]),
        p_value=float(d.p_value[w]),
    )


def annotator_quality(*, project: Project, votes: ProjectVotes | None = None) -> AnnotatorReport:
    """Per annotator: gold accuracy, agreement with consensus, left/right bias, speed, DS diagonal and flags.

    Flags (``annotate.aggregation.flags``) use the project's thresholds: ``gold`` when
    accuracy < min_gold_accuracy after at least min_gold_items gold items; ``position``
    when the side test gives p < position_bias_p; ``fast`` when the median seconds per
    item is under min_median_seconds; ``drift`` when accuracy over the recent window fell;
    ``collusion`` when the annotator is in a group that agrees against everyone else.
    A flag that cannot be computed on these votes is listed in ``unavailable`` with the
    reason. Imported verdicts are not an annotator: they are left out of every figure
    and flag (their worker index keeps no votes) and reported apart in ``imported``;
    each person's agreement with them is ``imported_agreement``.
    """
    everything = votes if votes is not None else project_votes(project=project)
    imported = imported_verdicts(everything)
    votes = everything.people()
    n_workers = votes.n_workers
    if votes.item.size == 0:
        return AnnotatorReport(
            [], np.zeros((0, N_LABELS, N_LABELS)), np.zeros((N_LABELS, N_LABELS)), imported=imported
        )
    gold = np.flatnonzero(votes.is_gold & (votes.gold_label >= 0))
    ds = _dawid_skene(votes)
    exempt = np.asarray([a is None for a in votes.annotator_id], dtype=bool)
    flags = annotator_flags_for(
        votes,
        gold_item=gold,
        gold_label=votes.gold_label[gold],
        confusion=ds.confusion,
        exempt=exempt,
        thresholds=_thresholds(project),
    )
    # Per-vote evidence must line up with the votes the caller gave (pair_selection
    # treats those, imported verdicts included): an imported verdict is never late.
    late = np.zeros(everything.item.size, dtype=bool)
    late[~everything.imported] = flags.drift.late
    flags = replace(flags, drift=replace(flags.drift, late=late))
    stats = flags.stats
    names = _names(votes.annotator_id)
    answered = label_counts(votes.worker, votes.label, n_workers) > 0
    groups = [
        CollusionEvidence(
            number=g + 1,
            members=sorted(
                names.get(votes.annotator_id[m], str(votes.annotator_id[m])) for m in group.members
            ),
            annotator_ids=[votes.annotator_id[m] for m in group.members],
            shared_items=group.shared_items,
            agreed=group.agreed,
            agree_against=group.agree_against,
            rate=group.rate,
            expected=group.expected,
            expected_rate=group.expected_rate,
        )
        for g, group in enumerate(flags.collusion.groups)
    ]
    others = agreement_with_others(
        votes.item,
        votes.worker,
        votes.label,
        n_items=votes.n_items,
        n_workers=n_workers,
        skip=votes.is_gold[votes.item],
    )
    consensus_share = others.share
    # Each person's votes against the imported verdict on the same comparison, if any.
    verdict = np.full(votes.n_items, NO_WINNER, dtype=np.int64)
    verdict[everything.item[everything.imported]] = everything.label[everything.imported]
    with_verdict = verdict[votes.item] != NO_WINNER
    imported_items = np.bincount(votes.worker, weights=with_verdict, minlength=n_workers).astype(np.int64)
    imported_agreeing = np.bincount(
        votes.worker, weights=with_verdict & (votes.label == verdict[votes.item]), minlength=n_workers
    )
    vote_count = np.bincount(votes.worker, minlength=n_workers)
    rows = []
    for w, annotator_id in enumerate(votes.annotator_id):
        if vote_count[w] == 0:
            continue  # the imported pseudo-annotator: its verdicts were left out above
        diagonal: list[float | None] = [
            float(ds.confusion[w, k, k]) if answered[w, k] else None for k in range(N_LABELS)
        ]
        group_of = int(flags.collusion.group_of[w])
        rows.append(
            AnnotatorQuality(
                annotator_id=annotator_id,
                name=names.get(annotator_id, str(annotator_id)),
                votes=int(stats.votes[w]),
                gold_items=int(stats.gold_votes[w]),
                gold_accuracy=nan_to_none(stats.gold_accuracy[w]),
                consensus_agreement=nan_to_none(consensus_share[w]),
                decisive_votes=int(stats.left_picks[w] + stats.right_picks[w]),
                left_share=nan_to_none(stats.left_share[w]),
                bias_p=nan_to_none(stats.position_bias_p_value[w]),
                median_seconds=nan_to_none(stats.median_seconds[w]),
                ds_diagonal=diagonal,
                flags=flags.flags_of(w),
                side_p=nan_to_none(flags.side_p_value[w]),
                drift=None if exempt[w] else _drift_evidence(flags, w),
                collusion_group=group_of + 1 if group_of >= 0 else None,
                consensus_votes=int(others.scored[w]),
                no_consensus=int(others.no_consensus[w]),
                imported_items=int(imported_items[w]),
                imported_agreement=float(imported_agreeing[w] / imported_items[w])
                if imported_items[w]
                else None,
            )
        )
    per_worker = vote_count.astype(np.float64)
    pooled = np.tensordot(per_worker / per_worker.sum(), ds.confusion, axes=1)
    rows.sort(key=lambda r: r.name)
    return AnnotatorReport(rows, ds.confusion, pooled, groups, dict(flags.unavailable), flags, imported)


# --- Imported response verdicts (unpaired imports) ------------------------------------------------


@dataclass(frozen=True)
class ResponseVerdicts:
    """The unpaired import's verdicts on single responses: a dataset's labels, not an annotator's votes."""

    desirable: int
    undesirable: int


def imported_response_verdicts(*, project: Project) -> ResponseVerdicts | None:
    """How many of the project's responses carry an imported desirable / undesirable verdict; None when none does."""
    responses = Response.objects.filter(prompt__project=project)
    desirable = responses.filter(**{f"metadata__{IMPORTED_LABEL}": True}).count()
    undesirable = responses.filter(**{f"metadata__{IMPORTED_LABEL}": False}).count()
    if not desirable and not undesirable:
        return None
    return ResponseVerdicts(desirable=desirable, undesirable=undesirable)
