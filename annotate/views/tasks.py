"""Annotator pages. Each view parses, calls one service or selector, and renders.

One URL serves a page and its htmx fragment: with ``HX-Request`` the view renders
only the ``task`` partial, which replaces the current item in place.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from annotate import access, navigation
from annotate.access import Need
from annotate.db import id_from_text
from annotate.models import Assignment, Judgment, Project, Strength
from annotate.selectors.comparisons import annotator_progress
from annotate.selectors.judgments import judgment_list_as_shown, judgment_undoable
from annotate.services.assignment import comparison_next_for_annotator
from annotate.services.errors import ServiceError
from annotate.services.judgments import assignment_skip, judgment_submit
from annotate.services.undo import judgment_undo, judgment_undo_seconds


def _undo_offer(judgment: Judgment | None) -> dict[str, object] | None:
    """What the Undo button needs: its lease and the seconds left (the server's clock, so a skewed one cannot lie)."""
    if judgment is None or judgment.assignment_id is None:
        return None
    left = (judgment.created_at + timedelta(seconds=judgment_undo_seconds()) - timezone.now()).total_seconds()
    return {"assignment": judgment.assignment_id, "seconds_left": int(left)} if left >= 1 else None


def _render_task(
    request: HttpRequest, project: Project, lease: Assignment | None, *, error: str = "", status: int = 200,
    undo: Judgment | None = None,
) -> HttpResponse:  # fmt: skip
    progress = annotator_progress(project=project, annotator=request.user)  # type: ignore[arg-type]
    context = {
        "undo": _undo_offer(undo),
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
            annotator_progress(project=project, annotator=request.user)  # type: ignore[arg-type]
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
    # After a plain (no-JS) submit, the redirect names the lease just judged so its Undo is offered.
    undo_id = id_from_text(request.GET.get("undo"))
    undo = None
    if undo_id is not None:
        undo = judgment_undoable(
            annotator=request.user,  # type: ignore[arg-type]
            assignment_id=undo_id,
            window_seconds=judgment_undo_seconds(),
        )
    return _next_task(request, project, undo=undo)


def _seconds(raw: str | None) -> float | None:
    try:
        value = float(raw or "")
    except ValueError:
        return None
    return value if 0 <= value < 86_400 else None


def _lease_id(request: HttpRequest) -> int:
    raw = request.POST.get("assignment", "")
    lease_id = id_from_text(raw)
    if lease_id is None:
        raise ServiceError(f"assignment must be a lease id, got {raw[:40]!r}")
    return lease_id


def _next_task(
    request: HttpRequest, project: Project, *, error: str = "", status: int = 200, undo: Judgment | None = None
) -> HttpResponse:
    lease = comparison_next_for_annotator(project=project, annotator=request.user)  # type: ignore[arg-type]
    return _render_task(request, project, lease, error=error, status=status, undo=undo)


def _on_lease(request: HttpRequest, project: Project, act: Callable[[int], Judgment | None]) -> HttpResponse:
    """Parse the posted lease, call the service with it, and answer with the next task or the service's error."""
    try:
        done = act(_lease_id(request))
    except ServiceError as exc:
        return _next_task(request, project, error=exc.message, status=exc.status)
    if not request.htmx:  # type: ignore[attr-defined]
        page = reverse("annotate:task", kwargs={"slug": project.slug})
        # A judgment stored: the task page names the lease just judged, to offer its Undo.
        return redirect(f"{page}?undo={done.assignment_id}" if done is not None else page)
    return _next_task(request, project, undo=done)


@login_required
@require_POST
def task_submit(request: HttpRequest, slug: str) -> HttpResponse:
    project = access.project_for(user=request.user, slug=slug, need=Need.ANNOTATE)
    # The same service and rules as the API; ``project`` refuses a lease of another project.
    return _on_lease(
        request,
        project,
        lambda lease_id: judgment_submit(
            assignment_id=lease_id,
            annotator=request.user,  # type: ignore[arg-type]
            choice=request.POST.get("choice", ""),
            strength=request.POST.get("strength", ""),
            rationale=request.POST.get("rationale", ""),
            seconds_spent=_seconds(request.POST.get("seconds")),
            project=project,
        ).judgment,
    )


@login_required
@require_POST
def task_undo(request: HttpRequest, slug: str, assignment_id: int) -> HttpResponse:
    project = access.project_for(user=request.user, slug=slug, need=Need.ANNOTATE)
    try:
        # The same service and rules as the API; the undone comparison is what the page shows next.
        lease: Assignment | None = judgment_undo(
            assignment_id=assignment_id,
            annotator=request.user,  # type: ignore[arg-type]
            project=project,
        ).lease
    except ServiceError as exc:
        return _next_task(request, project, error=exc.message, status=exc.status)
    if not request.htmx:  # type: ignore[attr-defined]
        return redirect("annotate:task", slug=project.slug)
    return _render_task(request, project, lease)


@login_required
@require_POST
def task_skip(request: HttpRequest, slug: str) -> HttpResponse:
    project = access.project_for(user=request.user, slug=slug, need=Need.ANNOTATE)

    def skip(lease_id: int) -> None:
        assignment_skip(
            assignment_id=lease_id,
            annotator=request.user,  # type: ignore[arg-type]
            reason=request.POST.get("reason", ""),
            project=project,
        )

    return _on_lease(request, project, skip)


@login_required
def my_judgments(request: HttpRequest, slug: str) -> HttpResponse:
    project = access.project_for(user=request.user, slug=slug, need=Need.ANNOTATE)
    # As the annotator saw them: letters and texts in the displayed order, not the stored (canonical) ones.
    judgments = judgment_list_as_shown(annotator=request.user, project=project)  # type: ignore[arg-type]
    return render(request, "annotate/mine.html", {"project": project, "judgments": judgments})
