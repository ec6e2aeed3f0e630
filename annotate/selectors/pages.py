"""The quality page's figures: the annotator picker, the confusion matrix it picks, and the charts.

Everything here reads the project's votes once (``project_votes``) and shapes what
``annotate/quality.html`` shows; the view only parses the request and renders.
"""

from __future__ import annotations

from typing import Any

from annotate import charts
from annotate.aggregation.labels import LABEL_NAMES
from annotate.aggregation.votes import ProjectVotes
from annotate.models import Project
from annotate.selectors.agreement import project_agreement
from annotate.selectors.quality import annotator_quality, imported_response_verdicts
from annotate.selectors.ranking import response_ranking
from annotate.selectors.votes import project_votes


def quality_page(*, project: Project, picked: str = "", votes: ProjectVotes | None = None) -> dict[str, Any]:
    """The quality page's context: agreement, annotators, ranking and charts; ``picked`` names an annotator or pools them."""
    votes = votes if votes is not None else project_votes(project=project)
    agreement = project_agreement(project=project, votes=votes)
    report = annotator_quality(project=project, votes=votes)
    people = report.annotators
    # The picker names an annotator by user id; default is pooled. Imported verdicts are no annotator.
    worker_ids = [None if a is None else str(a) for a in votes.annotator_id]
    listed = {str(a.annotator_id) for a in people}
    if picked in listed:
        matrix = report.confusion[worker_ids.index(picked)]
        heat_title = f"Dawid–Skene confusion of {picked}"
    else:
        picked = "pooled"
        matrix = report.pooled_confusion
        heat_title = "Dawid–Skene confusion, pooled over annotators (vote-weighted)"
    days = [row.label for row in agreement.daily]
    drifting = [a for a in people if "drift" in a.flags and a.drift is not None]
    return {
        "agreement": agreement,
        "annotators": people,
        "picked": picked,
        "unavailable": report.unavailable,
        "drifting": drifting,
        "groups": report.groups,
        "response_verdicts": imported_response_verdicts(project=project),
        "ranking": response_ranking(project=project, votes=votes),
        "drift_chart": charts.before_after_chart(
            title="Accuracy before and after each drifting annotator's change-point",
            labels=[a.name for a in drifting],
            before=[a.drift.earlier_accuracy for a in drifting if a.drift is not None],
            after=[a.drift.recent_accuracy for a in drifting if a.drift is not None],
        )
        if drifting
        else None,
        "agreement_chart": charts.line_chart(
            title="Daily agreement with the other people's votes and Krippendorff's α",
            x_labels=days,
            series=[
                ("agreement", [row.consensus for row in agreement.daily]),
                ("α (nominal)", [row.alpha for row in agreement.daily]),
            ],
            y_min=min([0.0, *[r.alpha for r in agreement.daily if r.alpha is not None]]),
        ),
        "gold_chart": charts.bar_chart(
            title="Gold accuracy per annotator",
            labels=[a.name for a in people],
            values=[a.gold_accuracy for a in people],
            threshold=project.min_gold_accuracy,
            flagged=["gold" in a.flags for a in people],
        ),
        "confusion_chart": charts.heatmap(title=heat_title, matrix=matrix.tolist(), labels=list(LABEL_NAMES)),
    }
