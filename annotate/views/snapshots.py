"""Pages for dataset snapshots and their exports (project admins and readers; see ``annotate.access``).

The export status has its own small view, polled by htmx while the job runs; the
download streams the finished file with ``FileResponse``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import NoReturn

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from annotate import access
from annotate.access import Need
from annotate.forms import ExportForm, SnapshotCreateForm
from annotate.models import Project
from annotate.selectors.exports import export_job_get, export_job_list
from annotate.selectors.snapshots import snapshot_diff, snapshot_get, snapshot_list
from annotate.services.decontamination import DEFAULT_NGRAM
from annotate.services.exports import export_download_path, export_job_create
from annotate.services.snapshots import snapshot_create


def _not_found(what: str) -> NoReturn:
    raise Http404(what)


def _page(request: HttpRequest, project: Project, create_form: SnapshotCreateForm, status: int = 200) -> HttpResponse:
    snapshots = list(snapshot_list(project=project)[:50])
    latest_diff = snapshot_diff(snapshot=snapshots[0]).summary() if snapshots else None
    context = {
        "project": project,
        "snapshots": snapshots,
        "latest_diff": latest_diff,
        "jobs": export_job_list(project=project)[:20],
        "create_form": create_form,
        "export_form": ExportForm(),
    }
    return render(request, "annotate/snapshots.html", context, status=status)


@login_required
def snapshots(request: HttpRequest, slug: str) -> HttpResponse:
    need = Need.READ if request.method in ("GET", "HEAD") else Need.ADMINISTER
    project = access.project_for(user=request.user, slug=slug, need=need)
    if request.method != "POST":
        return _page(request, project, SnapshotCreateForm(initial={}))
    form = SnapshotCreateForm(request.POST, request.FILES)
    if not form.is_valid():
        return _page(request, project, form, status=400)
    upload = form.cleaned_data.pop("benchmark")
    ngram = form.cleaned_data.pop("ngram") or DEFAULT_NGRAM
    if upload is None:
        snapshot_create(project=project, filters=form.filters(), created_by=request.user)  # type: ignore[arg-type]
    else:
        # The benchmark is read line by line from disk, never held in memory whole.
        with tempfile.NamedTemporaryFile(suffix=".txt") as handle:
            for piece in upload.chunks():
                handle.write(piece)
            handle.flush()
            snapshot_create(
                project=project, filters=form.filters(), created_by=request.user,  # type: ignore[arg-type]
                benchmark_path=Path(handle.name), benchmark_name=upload.name or "benchmark", ngram=ngram,
            )
    return redirect("annotate:snapshots", slug=project.slug)


@login_required
@require_POST
def snapshot_export(request: HttpRequest, slug: str, version: int) -> HttpResponse:
    project = access.project_for(user=request.user, slug=slug, need=Need.ADMINISTER)
    snapshot = snapshot_get(project=project, version=version) or _not_found("No such snapshot")
    form = ExportForm(request.POST)
    if not form.is_valid():
        return HttpResponse("Unknown format or schema, or ties asked of a pairwise schema.", status=400)
    job = export_job_create(
        snapshot=snapshot, fmt=form.cleaned_data["format"], schema=form.cleaned_data["schema"],
        include_ties=form.cleaned_data["include_ties"], created_by=request.user,  # type: ignore[arg-type]
    )
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "annotate/partials/export_job.html", {"project": project, "job": job})
    return redirect("annotate:snapshots", slug=project.slug)


@login_required
def export_status(request: HttpRequest, slug: str, job_id: int) -> HttpResponse:
    project = access.project_for(user=request.user, slug=slug, need=Need.READ)
    job = export_job_get(project=project, job_id=job_id) or _not_found("No such export")
    return render(request, "annotate/partials/export_job.html", {"project": project, "job": job})


@login_required
def export_download(request: HttpRequest, slug: str, job_id: int) -> FileResponse:
    project = access.project_for(user=request.user, slug=slug, need=Need.READ)
    job = export_job_get(project=project, job_id=job_id)
    path = export_download_path(job) if job is not None else None
    if path is None:
        raise Http404("This export is not ready")
    return FileResponse(path.open("rb"), as_attachment=True, filename=path.name)
