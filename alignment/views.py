"""The rounds pages of a project: the timeline and its charts, a round with its runs, the plan, model versions.

Who may: seeing rounds, plans and versions needs ``Need.READ`` (project admins and readers; annotators get
403, never a model version); start, cancel, retry, promote, reject and saving the plan need
``Need.ADMINISTER`` (``annotate.access``). Buttons are plain form posts with CSRF that answer with a
redirect and a message, so they work without JavaScript. The running step's status has its own small
view, polled by htmx while the round can still move, like the import status.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from alignment.forms import PlanForm, VersionRejectForm
from alignment.models import AlignmentPlan, AlignmentRound, ModelVersion, RoundTrigger
from alignment.selectors.figures import round_figures
from alignment.selectors.pages import rounds_page
from alignment.selectors.rounds import plan_get, round_get, round_progress, round_runs
from alignment.selectors.versions import (
    version_get,
    version_lineage,
    version_pair_default,
    version_policies,
    version_samples,
)
from alignment.services.plans import PlanInvalid, plan_get_or_create, plan_update
from alignment.services.rounds import (
    RoundNotStarted,
    RoundRefused,
    round_cancel,
    round_retry,
    round_start,
    round_trigger_status,
)
from alignment.services.versions import REASON_NEEDED, VersionRefused, version_promote, version_reject
from annotate import access
from annotate.access import Need
from annotate.db import id_from_text
from annotate.models import Project


def _round_or_404(project: Project, number: int) -> AlignmentRound:
    round_ = round_get(project=project, number=number)
    if round_ is None:
        raise Http404("No such round")
    return round_


def _version_or_404(project: Project, kind: str, number: int) -> ModelVersion:
    version = version_get(project=project, kind=kind, number=number)
    if version is None:
        raise Http404("No such model version")
    return version


def _trigger_reason(plan: AlignmentPlan | None) -> str:
    if plan is None:
        return (
            "there is no plan yet: a round started by hand uses the defaults (the built-in tiny models, PPO)"
        )
    return round_trigger_status(plan=plan).reason


@login_required
def rounds(request: HttpRequest, slug: str) -> HttpResponse:
    project = access.project_for(user=request.user, slug=slug, need=Need.READ)
    context = rounds_page(project=project)
    current = context["current"]
    context.update(
        project=project,
        can_change=access.can_administer(request.user, project),
        trigger_reason=_trigger_reason(context["plan"]),
        progress=round_progress(round_=current) if current is not None else None,
    )
    return render(request, "alignment/rounds.html", context)


@login_required
@require_POST
def round_start_view(request: HttpRequest, slug: str) -> HttpResponse:
    project = access.project_for(user=request.user, slug=slug, need=Need.ADMINISTER)
    try:
        round_ = round_start(project=project, trigger=RoundTrigger.MANUAL, user=request.user)  # type: ignore[arg-type]
    except RoundNotStarted as exc:
        messages.error(request, f"No round was started: {exc.reason}.")
    else:
        messages.success(request, f"Round {round_.number} started: its snapshot is queued.")
    return redirect("alignment:rounds", slug=project.slug)


@login_required
def round_detail(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    project = access.project_for(user=request.user, slug=slug, need=Need.READ)
    round_ = _round_or_404(project, number)
    context = {
        "project": project,
        "round": round_,
        "figures": round_figures(round_),
        "runs": round_runs(round_=round_),
        "progress": round_progress(round_=round_),
        "can_change": access.can_administer(request.user, project),
    }
    return render(request, "alignment/round.html", context)


@login_required
def round_status(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    project = access.project_for(user=request.user, slug=slug, need=Need.READ)
    round_ = _round_or_404(project, number)
    if not request.htmx:  # type: ignore[attr-defined]
        return redirect(reverse("alignment:round", kwargs={"slug": project.slug, "number": round_.number}))
    context = {"project": project, "progress": round_progress(round_=round_)}
    return render(request, "alignment/partials/round_status.html", context)


def _round_action(
    request: HttpRequest, slug: str, number: int, act: Callable[[AlignmentRound], str]
) -> HttpResponse:
    """Run a cancel or retry on the round; its notice (or the refusal) goes with the redirect."""
    project = access.project_for(user=request.user, slug=slug, need=Need.ADMINISTER)
    round_ = _round_or_404(project, number)
    try:
        messages.success(request, act(round_))
    except RoundRefused as exc:
        messages.error(request, str(exc))
    # Back to the page the button was on: the round's own page, or the timeline.
    if request.POST.get("back") == "round":
        return redirect("alignment:round", slug=project.slug, number=round_.number)
    return redirect("alignment:rounds", slug=project.slug)


def _cancelled(round_: AlignmentRound) -> str:
    round_cancel(round_=round_)
    return f"Round {round_.number} cancelled: a running step stops at its next progress event."


def _retried(round_: AlignmentRound) -> str:
    round_ = round_retry(round_=round_)
    return f"Round {round_.number} runs again from {round_.get_state_display().lower()}."


@login_required
@require_POST
def round_cancel_view(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    return _round_action(request, slug, number, _cancelled)


@login_required
@require_POST
def round_retry_view(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    return _round_action(request, slug, number, _retried)


@login_required
def plan(request: HttpRequest, slug: str) -> HttpResponse:
    need = Need.READ if request.method in ("GET", "HEAD") else Need.ADMINISTER
    project = access.project_for(user=request.user, slug=slug, need=need)
    saved = plan_get(project=project)
    status = 200
    if request.method == "POST":
        form = PlanForm(request.POST, instance=AlignmentPlan(project=project))
        if form.is_valid():
            try:
                # A new project's plan row is made here too: rolled back with the rest when a value is bad.
                with transaction.atomic():
                    plan_update(plan=plan_get_or_create(project=project), **form.plan_fields())
            except PlanInvalid as exc:
                form.add_plan_error(exc)
            else:
                messages.success(request, "The plan is saved; the next round uses it.")
                return redirect("alignment:plan", slug=project.slug)
        status = 400
    else:
        form = PlanForm(instance=saved or AlignmentPlan(project=project))
    context = {
        "project": project,
        "form": form,
        "saved": saved,
        "trigger_reason": _trigger_reason(saved),
        "can_change": access.can_administer(request.user, project),
    }
    return render(request, "alignment/plan.html", context, status=status)


@login_required
def version_detail(request: HttpRequest, slug: str, kind: str, number: int) -> HttpResponse:
    project = access.project_for(user=request.user, slug=slug, need=Need.READ)
    version = _version_or_404(project, kind, number)
    context = {
        "project": project,
        "version": version,
        "lineage": version_lineage(version=version),
        "reject_form": VersionRejectForm(),
        "can_change": access.can_administer(request.user, project),
    }
    return render(request, "alignment/version.html", context)


@login_required
@require_POST
def version_promote_view(request: HttpRequest, slug: str, kind: str, number: int) -> HttpResponse:
    project = access.project_for(user=request.user, slug=slug, need=Need.ADMINISTER)
    version = _version_or_404(project, kind, number)
    try:
        version_promote(version=version, reason=f"promoted by {request.user.get_username()}")
    except VersionRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{version.label} is now the champion.")
    return redirect("alignment:version", slug=project.slug, kind=version.kind, number=version.number)


@login_required
@require_POST
def version_reject_view(request: HttpRequest, slug: str, kind: str, number: int) -> HttpResponse:
    project = access.project_for(user=request.user, slug=slug, need=Need.ADMINISTER)
    version = _version_or_404(project, kind, number)
    form = VersionRejectForm(request.POST)
    if not form.is_valid():
        messages.error(request, REASON_NEEDED)
    else:
        try:
            version_reject(version=version, reason=form.cleaned_data["reason"])
        except VersionRefused as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"{version.label} is rejected.")
    return redirect("alignment:version", slug=project.slug, kind=version.kind, number=version.number)


def _picked(request: HttpRequest, name: str, project: Project) -> ModelVersion | None:
    number = id_from_text(request.GET.get(name))
    return None if number is None else version_get(project=project, kind="policy", number=number)


@login_required
def versions_compare(request: HttpRequest, slug: str) -> HttpResponse:
    project = access.project_for(user=request.user, slug=slug, need=Need.READ)
    first, second = _picked(request, "a", project), _picked(request, "b", project)
    if first is None and second is None:
        first, second = version_pair_default(project=project)
    samples = version_samples(first=first, second=second) if first is not None and second is not None else []
    context = {
        "project": project,
        "first": first,
        "second": second,
        "policies": version_policies(project=project),
        "samples": samples,
    }
    return render(request, "alignment/compare.html", context)
