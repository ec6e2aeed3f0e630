"""Annotator pages. Each view parses, calls one service or selector, and renders.

One URL serves a page and its htmx fragment: with ``HX-Request`` the view renders
only the ``task`` partial, which replaces the current item in place.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from annotate import access, navigation, selectors
from annotate.access import Need
from annotate.models import Assignment, Project, Strength
from annotate.services.assignment import assignment_skip, comparison_next_for_annotator, judgment_submit
from annotate.services.errors import ServiceError


def _render_task(
    request: HttpRequest, project: Project, lease: Assignment | None, *, error: str = "", status: int = 200
) -> HttpResponse:
    progress = selectors.annotator_progress(project=project, annotator=request.user)  # type: ignore[arg-type]
    context = {
        "project": project,
        "lease": lease,
        "progress": progress,
        "strengths": Strength.choices,
        "error": error,
        "left": (lease.comparison.response_b if lease.flipped else lease.comparison.response_a) if lease else None,
        "right": (lease.comparison.response_a if lease.flipped else lease.comparison.response_b) if lease else None,
    }
    template = "annotate/task.html#task" if request.htmx else "annotate/task.html"  # type: ignore[attr-defined]
    return render(request, template, context, status=status)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    # Every project the user may open, with the pages they may open in it (annotate/navigation.py).
    annotatable = set(access.projects_annotatable_by(request.user).values_list("pk", flat=True))
    rows = [
        (
            project,
            selectors.annotator_progress(project=project, annotator=request.user)  # type: ignore[arg-type]
            if project.pk in annotatable
            else None,
            links,
        )
        for project, links in navigation.project_rows(user=request.user)
    ]
    context = {"rows": rows, "can_create": access.can_create_projects(request.user)}
    return render(request, "annotate/home.html", context)


@login_required
def task(request: HttpRequest, slug: str) -> HttpResponse:
    project = access.project_for(user=request.user, slug=slug, need=Need.ANNOTATE)
    lease = comparison_next_for_annotator(project=project, annotator=request.user)  # type: ignore[arg-type]
    return _render_task(request, project, lease)


def _seconds(raw: str | None) -> float | None:
    try:
        value = float(raw or "")
    except ValueError:
        return None
    return value if 0 <= value < 86_400 else None


def _lease_id(request: HttpRequest) -> int:
    raw = request.POST.get("assignment", "")
    if not raw.isdigit() or len(raw) > 18:
        raise ServiceError(f"assignment must be a lease id, got {raw[:40]!r}")
    return int(raw)


@login_required
@require_POST
def task_submit(request: HttpRequest, slug: str) -> HttpResponse:
    project = access.project_for(user=request.user, slug=slug, need=Need.ANNOTATE)
    error, status = "", 200
    try:
        # The same service and rules as the API; ``project`` refuses a lease of another project.
        judgment_submit(
            assignment_id=_lease_id(request),
            annotator=request.user,  # type: ignore[arg-type]
            choice=request.POST.get("choice", ""),
            strength=request.POST.get("strength", ""),
            rationale=request.POST.get("rationale", ""),
            seconds_spent=_seconds(request.POST.get("seconds")),
            project=project,
        )
    except ServiceError as exc:
        error, status = exc.message, exc.status
    if not request.htmx and not error:  # type: ignore[attr-defined]
        return redirect("annotate:task", slug=project.slug)
    lease = comparison_next_for_annotator(project=project, annotator=request.user)  # type: ignore[arg-type]
    return _render_task(request, project, lease, error=error, status=status)


@login_required
@require_POST
def task_skip(request: HttpRequest, slug: str) -> HttpResponse:
    project = access.project_for(user=request.user, slug=slug, need=Need.ANNOTATE)
    error, status = "", 200
    try:
        assignment_skip(
            assignment_id=_lease_id(request),
            annotator=request.user,  # type: ignore[arg-type]
            reason=request.POST.get("reason", ""),
            project=project,
        )
    except ServiceError as exc:
        error, status = exc.message, exc.status
    if not request.htmx and not error:  # type: ignore[attr-defined]
        return redirect("annotate:task", slug=project.slug)
    lease = comparison_next_for_annotator(project=project, annotator=request.user)  # type: ignore[arg-type]
    return _render_task(request, project, lease, error=error, status=status)


@login_required
def my_judgments(request: HttpRequest, slug: str) -> HttpResponse:
    project = access.project_for(user=request.user, slug=slug, need=Need.ANNOTATE)
    judgments = selectors.judgment_list_for_annotator(annotator=request.user, project=project)[:200]  # type: ignore[arg-type]
    return render(request, "annotate/mine.html", {"project": project, "judgments": judgments})
