"""Staff import page: upload a file, list the project's imports, and a small polled status per job.

Only readers and the project's admins get in (``annotate.access``: 404 for non-members, 403 for annotators).
While a job is queued or running, its status fragment asks htmx to fetch it again every
second; a finished one stops asking. Without JavaScript the page still lists every job.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from annotate import access
from annotate.access import Need
from annotate.forms import ImportUploadForm
from annotate.models import ImportJob
from annotate.selectors.imports import import_job_list
from annotate.services.imports import ImportRejected, import_job_create


@login_required
def imports(request: HttpRequest, slug: str) -> HttpResponse:
    need = Need.READ if request.method in ("GET", "HEAD") else Need.ADMINISTER
    project = access.project_for(user=request.user, slug=slug, need=need)
    form = ImportUploadForm()
    problems: list[dict[str, object]] = []
    error = ""
    status = 200
    if request.method == "POST":
        form = ImportUploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                import_job_create(project=project, created_by=request.user, **form.job_arguments())
            except ImportRejected as exc:
                error = exc.message
                problems = [p.as_dict() for p in exc.problems]
                status = 400
            else:
                # The job (finished, failed or queued) heads the list below.
                return redirect("annotate:imports", slug=project.slug)
        else:
            status = 400
    jobs = import_job_list(project=project)[:50]
    context = {"project": project, "form": form, "jobs": jobs, "error": error, "problems": problems}
    return render(request, "annotate/imports.html", context, status=status)


@login_required
def import_status(request: HttpRequest, slug: str, job_id: int) -> HttpResponse:
    project = access.project_for(user=request.user, slug=slug, need=Need.READ)
    job = get_object_or_404(ImportJob, pk=job_id, project=project)
    if not request.htmx:  # type: ignore[attr-defined]
        return redirect(f"{reverse('annotate:imports', kwargs={'slug': project.slug})}#import-{job.pk}")
    return render(request, "annotate/partials/import_status.html", {"project": project, "job": job})
