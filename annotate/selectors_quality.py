"""Reads for label quality and dataset snapshots.

Every number here starts from one query: a project's judgments loaded as parallel
NumPy arrays (``project_votes``) with ``values_list``, never one query per annotator
or comparison. The maths lives in ``annotate.aggregation``; this module turns rows
into arrays, calls it, and shapes the results for pages, the API and the
snapshot service.

Label coding (``annotate.aggregation.labels``): 0=a, 1=b, 2=tie, 3=both_bad.
Imported judgments (``annotator=None``) are the votes of one "imported"
pseudo-annotator. They count in aggregation (``pair_selection``), but not in
agreement, annotator statistics or flags: an imported verdict is a dataset's
label, stored with the chosen response as A, not a person's judgment with a
display order and a time. They are reported apart (``ImportedVerdicts``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt
from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from annotate.aggregation.agreement import fleiss_kappa_from_counts, krippendorff_alpha, label_counts_by_item
from annotate.aggregation.bradley_terry import bradley_terry_by_component
from annotate.aggregation.dawid_skene import DawidSkeneResult, dawid_skene
from annotate.aggregation.flags import (
    AnnotatorFlags,
    FlagThresholds,
    agreement_with_others,
    annotator_flags,
    leave_one_out_majority,
)
from annotate.aggregation.labels import (
    LABEL_A,
    LABEL_B,
    LABEL_NAMES,
    LABEL_TIE,
    N_LABELS,
    NO_WINNER,
    is_decisive,
)
from annotate.aggregation.majority import majority_vote
from annotate.aggregation.treatment import (
    DEFAULT_FLAGGED_MODE,
    DEFAULT_POSITION_AWARE,
    AggregationName,
    FlaggedMode,
    VoteTreatment,
    aggregate_labels,
    vote_treatment,
)
from annotate.models import (
    AggregationMethod,
    Comparison,
    ExportJob,
    Judgment,
    Project,
    Snapshot,
    SnapshotPair,
)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

IMPORTED = "imported"
# Llama 2's scale (Touvron et al., 2023, §3.2.1) as the reward model's margin.
STRENGTH_MARGIN = {"significantly": 3, "better": 2, "slightly": 1, "negligibly": 0}
_LABEL_CODE = {name: code for code, name in enumerate(LABEL_NAMES)}
_CHUNK = 20_000


# --- Loading votes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProjectVotes:
    """A project's judgments as parallel arrays (one entry per vote) plus per-item and per-worker tables."""

    item: IntArray  # index into comparison_id
    worker: IntArray  # index into annotator_id
    label: IntArray
    strength: IntArray  # Llama 2 margin 0..3, -1 when no strength was given
    flipped: BoolArray  # response B was shown on the left
    seconds: FloatArray  # NaN when unknown
    day: IntArray  # proleptic ordinal of the judgment's UTC date
    time: FloatArray  # POSIX seconds of the judgment: orders each annotator's history
    comparison_id: IntArray  # per item
    response_a_id: IntArray
    response_b_id: IntArray
    is_gold: BoolArray
    gold_label: IntArray  # -1 for non-gold items
    batch: list[str]
    annotator_id: list[int | None]  # per worker; None is the imported pseudo-annotator

    @property
    def n_items(self) -> int:
        return int(self.comparison_id.size)

    @property
    def n_workers(self) -> int:
        return len(self.annotator_id)

    @property
    def imported(self) -> BoolArray:
        """Per vote: True for an imported verdict (the pseudo-annotator's votes)."""
        is_imported = np.asarray([a is None for a in self.annotator_id], dtype=bool)
        return is_imported[self.worker] if self.worker.size else np.zeros(0, dtype=bool)

    def people(self) -> ProjectVotes:
        """Only the votes people cast: imported verdicts left out, worker and item indices unchanged."""
        return self.subset(~self.imported)

    def subset(self, keep: BoolArray) -> ProjectVotes:
        """The same tables with only the votes where ``keep`` is True."""
        return ProjectVotes(
            item=self.item[keep],
            worker=self.worker[keep],
            label=self.label[keep],
            strength=self.strength[keep],
            flipped=self.flipped[keep],
            seconds=self.seconds[keep],
            day=self.day[keep],
            time=self.time[keep],
            comparison_id=self.comparison_id,
            response_a_id=self.response_a_id,
            response_b_id=self.response_b_id,
            is_gold=self.is_gold,
            gold_label=self.gold_label,
            batch=self.batch,
            annotator_id=self.annotator_id,
        )


def project_votes(*, project: Project) -> ProjectVotes:
    """All of a project's judgments as NumPy arrays, read in one query streamed in chunks."""
    rows = (
        Judgment.objects.filter(comparison__project=project)
        .order_by()
        .values_list(
            "comparison_id",
            "annotator_id",
            "choice",
            "strength",
            "shown_flipped",
            "seconds_spent",
            "created_at",
            "comparison__is_gold",
            "comparison__gold_answer",
            "comparison__batch",
            "comparison__response_a_id",
            "comparison__response_b_id",
        )
        .iterator(chunk_size=_CHUNK)
    )
    item_index: dict[int, int] = {}
    items: list[tuple[int, int, int, bool, int, str]] = []
    worker_index: dict[int | None, int] = {}
    cols: dict[str, list[Any]] = {
        k: [] for k in ("item", "worker", "label", "strength", "flipped", "seconds", "day", "time")
    }
    for cid, aid, choice, strength, flipped, seconds, created, is_gold, gold, batch, ra, rb in rows:
        i = item_index.get(cid)
        if i is None:
            i = item_index[cid] = len(items)
            items.append((cid, ra, rb, is_gold, _LABEL_CODE.get(gold, -1) if is_gold else -1, batch))
        w = worker_index.get(aid)
        if w is None:
            w = worker_index[aid] = len(worker_index)
        cols["item"].append(i)
        cols["worker"].append(w)
        cols["label"].append(_LABEL_CODE[choice])
        cols["strength"].append(STRENGTH_MARGIN.get(strength, -1))
        cols["flipped"].append(flipped)
        cols["seconds"].append(np.nan if seconds is None else seconds)
        cols["day"].append(created.toordinal())
        cols["time"].append(created.timestamp())
    return ProjectVotes(
        item=np.asarray(cols["item"], dtype=np.int64),
        worker=np.asarray(cols["worker"], dtype=np.int64),
        label=np.asarray(cols["label"], dtype=np.int64),
        strength=np.asarray(cols["strength"], dtype=np.int64),
        flipped=np.asarray(cols["flipped"], dtype=bool),
        seconds=np.asarray(cols["seconds"], dtype=np.float64),
        day=np.asarray(cols["day"], dtype=np.int64),
        time=np.asarray(cols["time"], dtype=np.float64),
        comparison_id=np.asarray([r[0] for r in items], dtype=np.int64),
        response_a_id=np.asarray([r[1] for r in items], dtype=np.int64),
        response_b_id=np.asarray([r[2] for r in items], dtype=np.int64),
        is_gold=np.asarray([r[3] for r in items], dtype=bool),
        gold_label=np.asarray([r[4] for r in items], dtype=np.int64),
        batch=[r[5] for r in items],
        annotator_id=list(worker_index),
    )


def _value_counts(votes: ProjectVotes, keep: BoolArray | None = None) -> npt.NDArray[np.float64]:
    item, label = (votes.item, votes.label) if keep is None else (votes.item[keep], votes.label[keep])
    return (
        np.bincount(item * N_LABELS + label, minlength=votes.n_items * N_LABELS)
        .reshape(votes.n_items, N_LABELS)
        .astype(np.float64)
    )


# --- Agreement ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgreementRow:
    label: str  # "project", a batch name, or an ISO date
    items: int  # items with at least two votes
    votes: int
    alpha: float | None
    kappa: float | None
    # Share of the votes agreeing with the majority of the *other* votes on their item,
    # over the votes where the others have one (see aggregation.flags.agreement_with_others).
    consensus: float | None = None
    note: str = ""  # why α / κ are missing, when they are


def _nan_to_none(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def _agreement_note(counts: npt.NDArray[np.int64]) -> str:
    pairable = counts[counts.sum(axis=1) >= 2]
    if pairable.shape[0] == 0:
        return "no item has two votes from people yet"
    if np.count_nonzero(pairable.sum(axis=0)) < 2:
        return "every vote on these items gives the same answer, so agreement beyond chance is undefined"
    return ""


def _agreement_row(
    label: str, item: IntArray, labels: IntArray, n_items: int, consensus: float | None = None
) -> AgreementRow:
    counts = label_counts_by_item(item, labels, n_items=n_items)
    alpha = _nan_to_none(krippendorff_alpha(item, labels, n_items=n_items))
    kappa = _nan_to_none(fleiss_kappa_from_counts(counts))
    return AgreementRow(
        label=label,
        items=int((counts.sum(axis=1) >= 2).sum()),
        votes=int(item.size),
        alpha=alpha,
        kappa=kappa,
        consensus=consensus,
        note=_agreement_note(counts) if alpha is None or kappa is None else "",
    )


@dataclass(frozen=True)
class ImportedVerdicts:
    """Imported verdicts, kept apart from people's votes: how many, and on how many comparisons."""

    votes: int
    comparisons: int
    shared_comparisons: int  # comparisons that also have a vote from a person


@dataclass(frozen=True)
class ProjectAgreement:
    project: AgreementRow
    batches: list[AgreementRow]
    daily: list[AgreementRow]
    imported: ImportedVerdicts | None = None


def _imported_verdicts(votes: ProjectVotes) -> ImportedVerdicts | None:
    imported = votes.imported
    if not imported.any():
        return None
    by_import = np.unique(votes.item[imported])
    by_people = np.unique(votes.item[~imported])
    return ImportedVerdicts(
        votes=int(imported.sum()),
        comparisons=int(by_import.size),
        shared_comparisons=int(np.intersect1d(by_import, by_people).size),
    )


def project_agreement(*, project: Project, votes: ProjectVotes | None = None) -> ProjectAgreement:
    """Krippendorff's α and Fleiss' κ among people's votes for the project, each batch, and each day.

    Imported verdicts are left out (and counted in ``imported``): one dataset label per
    comparison, always stored as A, is not a second rater.
    """
    everything = votes if votes is not None else project_votes(project=project)
    votes = everything.people()
    batches = []
    batch_of_item = np.asarray(votes.batch, dtype=object)
    for name in sorted(set(votes.batch)):
        in_batch = (batch_of_item == name)[votes.item] if votes.item.size else np.zeros(0, dtype=bool)
        batches.append(
            _agreement_row(name or "(no batch)", votes.item[in_batch], votes.label[in_batch], votes.n_items)
        )
    reference = leave_one_out_majority(votes.item, votes.label, votes.n_items)
    scored = reference != NO_WINNER
    agrees = scored & (votes.label == reference)
    daily = []
    for day in np.unique(votes.day):
        on_day = votes.day == day
        n_scored = int((scored & on_day).sum())
        daily.append(
            _agreement_row(
                dt.date.fromordinal(int(day)).isoformat(),
                votes.item[on_day],
                votes.label[on_day],
                votes.n_items,
                float(agrees[on_day].sum() / n_scored) if n_scored else None,
            )
        )
    project_row = _agreement_row("project", votes.item, votes.label, votes.n_items)
    return ProjectAgreement(
        project=project_row, batches=batches, daily=daily, imported=_imported_verdicts(everything)
    )


# --- Annotators ---------------------------------------------------------------------------------


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
        return asdict(self)


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
        recent_gold_accuracy=_nan_to_none(d.recent_gold_accuracy[w]),
        earlier_gold_accuracy=_nan_to_none(d.earlier_gold_accuracy[w]),
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
    imported = _imported_verdicts(everything)
    votes = everything.people()
    n_workers = votes.n_workers
    if votes.item.size == 0:
        return AnnotatorReport(
            [], np.zeros((0, N_LABELS, N_LABELS)), np.zeros((N_LABELS, N_LABELS)), imported=imported
        )
    majority = majority_vote(votes.item, votes.label, n_items=votes.n_items)
    # Items with a single vote or no strict winner say nothing about agreement, and gold
    # items are scored against their answer instead: none of them has a consensus here.
    consensus = np.where((majority.votes >= 2) & ~votes.is_gold, majority.winner, NO_WINNER)
    gold = np.flatnonzero(votes.is_gold & (votes.gold_label >= 0))
    ds = _dawid_skene(votes)
    exempt = np.asarray([a is None for a in votes.annotator_id], dtype=bool)
    flags = annotator_flags(
        votes.item,
        votes.worker,
        votes.label,
        flipped=votes.flipped,
        seconds=votes.seconds,
        time=votes.time,
        consensus=consensus,
        n_workers=n_workers,
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
    answered = (
        np.bincount(votes.worker * N_LABELS + votes.label, minlength=n_workers * N_LABELS).reshape(
            n_workers, N_LABELS
        )
        > 0
    )
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
                gold_accuracy=_nan_to_none(stats.gold_accuracy[w]),
                consensus_agreement=_nan_to_none(consensus_share[w]),
                decisive_votes=int(stats.left_picks[w] + stats.right_picks[w]),
                left_share=_nan_to_none(stats.left_share[w]),
                bias_p=_nan_to_none(stats.position_bias_p_value[w]),
                median_seconds=_nan_to_none(stats.median_seconds[w]),
                ds_diagonal=diagonal,
                flags=flags.flags_of(w),
                side_p=_nan_to_none(flags.side_p_value[w]),
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


# --- Ranking responses ------------------------------------------------------------------------


@dataclass(frozen=True)
class RankedResponse:
    response_id: int
    score: float


@dataclass(frozen=True)
class ResponseRanking:
    """Bradley–Terry over the project's responses: one scale per connected group of compared responses."""

    summary: str
    responses: int
    groups: int
    ranked_groups: int
    lone_pairs: int
    largest: list[RankedResponse]  # the largest ranked group, best first


def response_ranking(*, project: Project, votes: ProjectVotes | None = None) -> ResponseRanking:
    """Rank the responses the votes compare, per connected component; lone pairs are reported, not failed on."""
    votes = votes if votes is not None else project_votes(project=project)
    picks = votes.label <= LABEL_B  # a, b or tie: both_bad says nothing about the order
    picks |= votes.label == LABEL_TIE
    item, label, flipped = votes.item[picks], votes.label[picks], votes.flipped[picks]
    if item.size == 0:
        return ResponseRanking("No votes compare two responses yet.", 0, 0, 0, 0, [])
    ids, index = np.unique(np.concatenate([votes.response_a_id, votes.response_b_id]), return_inverse=True)
    a_index, b_index = index[: votes.n_items], index[votes.n_items :]
    first, second = a_index[item], b_index[item]
    winner = np.where(label == LABEL_B, second, first)
    loser = np.where(label == LABEL_B, first, second)
    left = np.where(flipped, second, first)
    fit = bradley_terry_by_component(
        winner,
        loser,
        n_responses=ids.size,
        tie=label == LABEL_TIE,
        left=left,
        annotator=votes.worker[picks],
        n_annotators=votes.n_workers,
    )
    ranked = sorted(fit.ranked, key=lambda c: -c.responses.size)
    largest: list[RankedResponse] = []
    if ranked and ranked[0].fit is not None:
        scores = ranked[0].fit.scores
        order = np.argsort(-scores)
        largest = [RankedResponse(int(ids[ranked[0].responses[k]]), float(scores[k])) for k in order]
    return ResponseRanking(
        summary=fit.summary(),
        responses=sum(c.responses.size for c in fit.components),
        groups=len(fit.components),
        ranked_groups=len(fit.ranked),
        lone_pairs=len(fit.unranked),
        largest=largest,
    )


# --- Pairs that pass a filter set ---------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotFilters:
    """Which aggregated pairs become training pairs. Stored as JSON on the snapshot."""

    method: str = AggregationMethod.MAJORITY
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

    def __post_init__(self) -> None:
        if self.flagged_votes not in ("drop", "downweight"):
            raise ValueError(f"flagged_votes must be 'drop' or 'downweight', got {self.flagged_votes!r}")
        if self.method not in AggregationMethod.values:
            raise ValueError(f"method must be one of {AggregationMethod.values}, got {self.method!r}")
        if self.min_votes < 1:
            raise ValueError("min_votes must be at least 1")
        for name in ("min_agreement", "min_posterior"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1]")

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
    chosen_response_id: IntArray
    rejected_response_id: IntArray
    counts: dict[str, int]
    flagged: list[str]

    @property
    def pair_count(self) -> int:
        return int(self.comparison_id.size)

    def take(self, keep: BoolArray) -> PairSelection:
        return PairSelection(
            comparison_id=self.comparison_id[keep],
            chosen_is_a=self.chosen_is_a[keep],
            margin=self.margin[keep],
            agreement=self.agreement[keep],
            votes=self.votes[keep],
            posterior=self.posterior[keep],
            chosen_response_id=self.chosen_response_id[keep],
            rejected_response_id=self.rejected_response_id[keep],
            counts=dict(self.counts),
            flagged=list(self.flagged),
        )


def pair_selection(
    *, project: Project, filters: SnapshotFilters, votes: ProjectVotes | None = None
) -> PairSelection:
    """Aggregate the project's votes and keep the non-gold pairs that pass every filter.

    Each dropped comparison is counted once, under the first filter it fails, in the
    order of the ``counts`` keys.
    """
    votes = votes if votes is not None else project_votes(project=project)
    comparisons = Comparison.objects.filter(project=project, is_gold=False).count()
    counts = dict.fromkeys(
        (
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
        ),
        0,
    )
    counts["comparisons"] = comparisons
    keep = np.ones(votes.item.size, dtype=bool)
    weight = np.ones(votes.item.size)
    phase = np.zeros(votes.item.size, dtype=np.int64)
    left_pick = None
    flagged: list[str] = []
    mode: FlaggedMode = filters.flagged_votes if filters.drop_flagged else "keep"  # type: ignore[assignment]
    method: AggregationName = "dawid_skene" if filters.method == AggregationMethod.DAWID_SKENE else "majority"
    if mode != "keep" and votes.item.size:
        report = annotator_quality(project=project, votes=votes)
        flagged_ids = report.flagged_ids
        flagged = [a.name for a in report.annotators if a.annotator_id in flagged_ids]
        # No flags without votes from people (only imported verdicts): nothing to treat.
        if report.flags is not None:
            treatment = vote_treatment(
                flags=report.flags,
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
    label_counts = _value_counts(used)
    n_votes = label_counts.sum(axis=1).astype(np.int64)
    # Agreement is the winner's share of the vote *weight*: a down-weighted vote disagrees less.
    weighted_counts = np.bincount(
        used.item * N_LABELS + used.label, weights=weight[keep], minlength=votes.n_items * N_LABELS
    ).reshape(votes.n_items, N_LABELS)
    if used.item.size:
        gold = np.flatnonzero(votes.is_gold & (votes.gold_label >= 0))
        aggregated = aggregate_labels(
            votes.item,
            votes.worker,
            votes.label,
            flipped=votes.flipped,
            n_items=n_items,
            n_workers=votes.n_workers,
            method=method,
            treatment=VoteTreatment(keep, weight, phase, left_pick),
            position_aware=method == "dawid_skene" and mode == "downweight" and filters.position_aware,
            gold_item=gold if method == "dawid_skene" else None,
            gold_label=votes.gold_label[gold] if method == "dawid_skene" else None,
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
    stages = [
        ("no_votes", n_votes > 0),
        ("too_few_votes", n_votes >= filters.min_votes),
        ("no_winner", winner != NO_WINNER),
        ("tie_or_both_bad", (winner == LABEL_A) | (winner == LABEL_B)),
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
    chosen_is_a = winner[order] == LABEL_A
    counts["pairs"] = int(order.size)
    return PairSelection(
        comparison_id=votes.comparison_id[order],
        chosen_is_a=chosen_is_a,
        margin=margin[order],
        agreement=agreement[order],
        votes=n_votes[order],
        posterior=posterior[order],
        chosen_response_id=np.where(chosen_is_a, votes.response_a_id[order], votes.response_b_id[order]),
        rejected_response_id=np.where(chosen_is_a, votes.response_b_id[order], votes.response_a_id[order]),
        counts=counts,
        flagged=flagged,
    )


# --- Snapshots and exports ----------------------------------------------------------------------


def snapshot_list(*, project: Project) -> QuerySet[Snapshot]:
    """A project's snapshots, newest version first."""
    return Snapshot.objects.filter(project=project).select_related("created_by").order_by("-version")


def snapshot_get(*, project: Project, version: int) -> Snapshot | None:
    """The project's snapshot with this version number, if any."""
    return Snapshot.objects.filter(project=project, version=version).first()


@dataclass(frozen=True)
class SnapshotDiff:
    """How ``snapshot`` differs from ``previous``, by comparison id."""

    previous_version: int | None
    added: list[int]
    removed: list[int]
    flipped: list[int]  # kept in both, but the other response is chosen now
    unchanged: int

    def summary(self) -> dict[str, Any]:
        return {
            "previous_version": self.previous_version,
            "added": len(self.added),
            "removed": len(self.removed),
            "flipped": len(self.flipped),
            "unchanged": self.unchanged,
        }


def _pair_orientation(snapshot: Snapshot) -> dict[int, bool]:
    return dict(
        SnapshotPair.objects.filter(snapshot=snapshot)
        .order_by()
        .values_list("comparison_id", "chosen_is_a")
        .iterator(chunk_size=_CHUNK)
    )


def snapshot_diff(*, snapshot: Snapshot, previous: Snapshot | None = None) -> SnapshotDiff:
    """Pairs added, removed and flipped since ``previous`` (default: the version before this one)."""
    if previous is None:
        previous = (
            Snapshot.objects.filter(project_id=snapshot.project_id, version__lt=snapshot.version)
            .order_by("-version")
            .first()
        )
    now = _pair_orientation(snapshot)
    before = _pair_orientation(previous) if previous is not None else {}
    added = sorted(now.keys() - before.keys())
    removed = sorted(before.keys() - now.keys())
    both = now.keys() & before.keys()
    flipped = sorted(c for c in both if now[c] != before[c])
    return SnapshotDiff(
        previous_version=previous.version if previous else None,
        added=added,
        removed=removed,
        flipped=flipped,
        unchanged=len(both) - len(flipped),
    )


def export_job_list(*, project: Project) -> QuerySet[ExportJob]:
    """A project's export jobs, newest first."""
    return (
        ExportJob.objects.filter(snapshot__project=project).select_related("snapshot").order_by("-created_at")
    )


def export_job_get(*, project: Project, job_id: int) -> ExportJob | None:
    """The project's export job with this id, if any."""
    return export_job_list(project=project).filter(pk=job_id).first()
