"""Agreement among people's votes: Krippendorff's α and Fleiss' κ for the project, each batch and each day.

Imported verdicts are kept out and counted apart (``ImportedVerdicts``): an imported
verdict is a dataset's label, stored with the chosen response as A, not a second rater.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from annotate.aggregation.agreement import fleiss_kappa_from_counts, krippendorff_alpha, label_counts_by_item
from annotate.aggregation.labels import NO_WINNER
from annotate.aggregation.leave_one_out import leave_one_out_majority
from annotate.aggregation.votes import IntArray, ProjectVotes
from annotate.models import Project
from annotate.selectors.votes import project_votes


@dataclass(frozen=True)
class AgreementRow:
    label: str  # "project", a batch name, or an ISO date
    items: int  # items with at least two votes
    votes: int
    alpha: float | None
    kappa: float | None
    # Share of the votes agreeing with the majority of the *other* votes on their item,
    # over the votes where the others have one (see aggregation.leave_one_out.agreement_with_others).
    consensus: float | None = None
    note: str = ""  # why α / κ are missing, when they are


def nan_to_none(value: float) -> float | None:
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
    alpha = nan_to_none(krippendorff_alpha(item, labels, n_items=n_items))
    kappa = nan_to_none(fleiss_kappa_from_counts(counts))
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


def imported_verdicts(votes: ProjectVotes) -> ImportedVerdicts | None:
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
        project=project_row, batches=batches, daily=daily, imported=imported_verdicts(everything)
    )
