"""The label-quality page for project admins: agreement over time, annotators, confusion, filter counts.

One URL serves the page and, for htmx requests from the filter form, just the
counts fragment (STYLE.md rule 7).
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from annotate import access
from annotate.access import Need
from annotate.aggregation.votes import ProjectVotes
from annotate.forms import SnapshotFilterForm
from annotate.models import Project
from annotate.selectors.pages import quality_page
from annotate.selectors.pairs import pair_selection
from annotate.selectors.votes import project_votes


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
    context = {
        **_counts_context(request, project, votes),
        **quality_page(project=project, picked=request.GET.get("annotator", ""), votes=votes),
    }
    return render(request, "annotate/quality.html", context)
