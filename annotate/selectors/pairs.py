"""The pairs of a project that pass a filter set: votes and flags read here, the arithmetic in ``aggregation.selection``."""

from __future__ import annotations

from annotate.aggregation.selection import PairSelection, SnapshotFilters, select_pairs
from annotate.aggregation.votes import ProjectVotes
from annotate.models import Comparison, Project
from annotate.selectors.quality import annotator_quality
from annotate.selectors.votes import project_votes


def pair_selection(
    *, project: Project, filters: SnapshotFilters, votes: ProjectVotes | None = None
) -> PairSelection:
    """Aggregate the project's votes and keep the non-gold pairs that pass every filter.

    Each dropped comparison is counted once, under the first filter it fails, in the
    order of the ``counts`` keys.
    """
    votes = votes if votes is not None else project_votes(project=project)
    comparisons = Comparison.objects.filter(project=project, is_gold=False).count()
    if not filters.drop_flagged or not votes.item.size:
        return select_pairs(votes=votes, filters=filters, comparisons=comparisons)
    report = annotator_quality(project=project, votes=votes)
    flagged_ids = report.flagged_ids
    return select_pairs(
        votes=votes,
        filters=filters,
        comparisons=comparisons,
        flags=report.flags,
        flagged=[a.name for a in report.annotators if a.annotator_id in flagged_ids],
    )
