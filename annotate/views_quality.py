"""The label-quality page for project admins: agreement over time, annotators, confusion, filter counts.

One URL serves the page and, for htmx requests from the filter form, just the
counts fragment (STYLE.md rule 7).
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from annotate import access, charts
from annotate.access import Need
from annotate.aggregation.labels import LABEL_NAMES
from annotate.models import Project
from annotate.selectors_quality import (
    ProjectVotes,
    annotator_quality,
    pair_selection,
    project_agreement,
    project_votes,
    response_ranking,
)
from annotate.views_snapshots import SnapshotFilterForm


def _counts_context(
    request: HttpRequest, project: Project, votes: ProjectVotes | None = None
) -> dict[str, object]:
    form = SnapshotFilterForm.from_query(request.GET)
    selection = (
        pair_selection(project=project, filters=form.filters(), votes=votes) if form.is_valid() else None
    )
    return {"project": project, "filter_form": form, "selection": selection}


@login_required
def quality(request: HttpRequest, slug: str) -> HttpResponse:
    project = access.project_for(user=request.user, slug=slug, need=Need.READ)
    if request.htmx and request.htmx.target == "counts":  # type: ignore[attr-defined]
        return render(request, "annotate/partials/pair_counts.html", _counts_context(request, project))
    votes = project_votes(project=project)
    agreement = project_agreement(project=project, votes=votes)
    report = annotator_quality(project=project, votes=votes)
    people = report.annotators
    picked = request.GET.get("annotator", "")
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
    context = {
        **_counts_context(request, project, votes),
        "agreement": agreement,
        "annotators": people,
        "picked": picked,
        "unavailable": report.unavailable,
        "drifting": drifting,
        "groups": report.groups,
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
    return render(request, "annotate/quality.html", context)
