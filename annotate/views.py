"""Annotator pages. Each view parses, calls one service or selector, and renders.

One URL serves a page and its htmx fragment: with ``HX-Request`` the view renders
only the ``task`` partial, which replaces the current item in place.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from annotate import access, selectors
from annotate.models import Assignment, Project, Strength
from annotate.services.assignment import assignment_skip, comparison_next_for_annotator, judgment_submit
from annotate.services.errors import ServiceError


def _project_for_annotation(request: HttpRequest, slug: str) -> Project:
    project = get_object_or_404(Project, slug=slug)
    if not access.can_annotate(request.user, project):
        # Non-members get a 404, not a 403: a project's existence is not theirs to learn.
        raise Http404("No such project")
    return project


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
    projects = access.projects_visible_to(request.user).filter(is_active=True)
    rows = [
        (project, selectors.annotator_progress(project=project, annotator=request.user))  # type: ignore[arg-type]
        for project in projects
    ]
    return render(request, "annotate/home.html", {"rows": rows})


@login_required
def task(request: HttpRequest, slug: str) -> HttpResponse:
    project = _project_for_annotation(request, slug)
    lease = comparison_next_for_annotator(project=project, annotator=request.user)  # type: ignore[arg-type]
    return _render_task(request, project, lease)


def _seconds(raw: str | None) -> float | None:
    try:
        value = float(raw or "")
    except ValueError:
        return None
    return value if 0 <= value < 86_400 else None


def _lease_id(request: HttpRequest) -> int:
    try:
        return int(request.POST.get("assignment", ""))
    except ValueError as exc:
        raise PermissionDenied("assignment is missing") from exc


@login_required
@require_POST
def task_submit(request: HttpRequest, slug: str) -> HttpResponse:
    project = _project_for_annotation(request, slug)
    error = ""
    try:
        judgment_submit(
            assignment_id=_lease_id(request),
            annotator=request.user,  # type: ignore[arg-type]
            choice=request.POST.get("choice", ""),
            strength=request.POST.get("strength", ""),
            rationale=request.POST.get("rationale", ""),
            seconds_spent=_seconds(request.POST.get("seconds")),
        )
    except ServiceError as exc:
        error = exc.message
    if not request.htmx and not error:  # type: ignore[attr-defined]
        return redirect("annotate:task", slug=project.slug)
    lease = comparison_next_for_annotator(project=project, annotator=request.user)  # type: ignore[arg-type]
    return _render_task(request, project, lease, error=error)


@login_required
@require_POST
def task_skip(request: HttpRequest, slug: str) -> HttpResponse:
    project = _project_for_annotation(request, slug)
    error = ""
    try:
        assignment_skip(
            assignment_id=_lease_id(request),
            annotator=request.user,  # type: ignore[arg-type]
            reason=request.POST.get("reason", ""),
        )
    except ServiceError as exc:
        error = exc.message
    if not request.htmx and not error:  # type: ignore[attr-defined]
        return redirect("annotate:task", slug=project.slug)
    lease = comparison_next_for_annotator(project=project, annotator=request.user)  # type: ignore[arg-type]
    return _render_task(request, project, lease, error=error)


@login_required
def my_judgments(request: HttpRequest, slug: str) -> HttpResponse:
    project = _project_for_annotation(request, slug)
    judgments = selectors.judgment_list_for_annotator(annotator=request.user, project=project)[:200]  # type: ignore[arg-type]
    return render(request, "annotate/mine.html", {"project": project, "judgments": judgments})
