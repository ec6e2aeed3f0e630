"""Project pages for staff: create a project, and list, add, re-role and remove its members.

Who may: ``access.can_create_projects`` creates (and becomes the new project's admin);
readers of the project see its members; whoever administers it changes them. A project
always keeps one admin (``annotate.services.projects``). With htmx a members form answers
with the members section only, errors included (``annotate/static/annotate/pages.js``
lets htmx swap a 400); without JavaScript it answers with a redirect or the whole page.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from annotate import access
from annotate.access import Need
from annotate.forms import MemberAddForm, MemberRemoveForm, MemberRoleForm, ProjectCreateForm
from annotate.models import Membership, Project, Role
from annotate.services.projects import (
    MembershipRefused,
    membership_add,
    membership_remove,
    membership_set_role,
    project_create,
)


@login_required
def project_new(request: HttpRequest) -> HttpResponse:
    if not access.can_create_projects(request.user):
        raise PermissionDenied("Only superusers and holders of annotate.add_project may create projects.")
    form = ProjectCreateForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                project = project_create(
                    name=data["name"],
                    slug=data["slug"],
                    created_by=request.user,  # type: ignore[arg-type]
                    guidelines=data["guidelines"],
                    overlap_target=data["overlap_target"],
                )
            except IntegrityError:
                # Someone created this slug between the form's check and our insert.
                form.add_error("slug", f"a project with the slug {data['slug']!r} already exists")
            except DjangoValidationError as exc:
                for field, errors in getattr(exc, "error_dict", {"__all__": exc.error_list}).items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                return redirect("annotate:members", slug=project.slug)
        status = 400
    return render(request, "annotate/project_new.html", {"form": form}, status=status)


def _members_page(
    request: HttpRequest,
    project: Project,
    *,
    add_form: forms.Form | None = None,
    error: str = "",
    notice: str = "",
    status: int = 200,
) -> HttpResponse:
    members = (
        Membership.objects.filter(project=project).select_related("user").order_by("role", "user__username")
    )
    context = {
        "project": project,
        "members": members,
        "admins": sum(1 for m in members if m.role == Role.ADMIN),
        "roles": Role.choices,
        "add_form": add_form or MemberAddForm(),
        "can_change": access.can_administer(request.user, project),
        "error": error,
        "notice": notice,
    }
    template = "annotate/members.html#members" if request.htmx else "annotate/members.html"  # type: ignore[attr-defined]
    return render(request, template, context, status=status)


def _form_error(form: forms.Form) -> str:
    return "; ".join(f"{name}: {' '.join(str(e) for e in errors)}" for name, errors in form.errors.items())


def _after_change(request: HttpRequest, project: Project, notice: str) -> HttpResponse:
    if request.htmx:  # type: ignore[attr-defined]
        return _members_page(request, project, notice=notice)
    # A plain form post (no JavaScript, or a submit htmx did not take over): the notice
    # travels with the redirect so the page says what happened either way.
    messages.success(request, notice)
    return redirect("annotate:members", slug=project.slug)


@login_required
def members(request: HttpRequest, slug: str) -> HttpResponse:
    need = Need.READ if request.method in ("GET", "HEAD") else Need.ADMINISTER
    project = access.project_for(user=request.user, slug=slug, need=need)
    if request.method != "POST":
        notice = " ".join(str(m) for m in messages.get_messages(request))
        return _members_page(request, project, notice=notice)
    form = MemberAddForm(request.POST)
    if not form.is_valid():
        return _members_page(request, project, add_form=form, error=_form_error(form), status=400)
    try:
        membership = membership_add(
            project=project, username=form.cleaned_data["username"], role=form.cleaned_data["role"]
        )
    except MembershipRefused as exc:
        return _members_page(request, project, add_form=form, error=exc.message, status=exc.status)
    return _after_change(
        request, project, f"Added {membership.user.username} as {membership.get_role_display()}."
    )


@login_required
@require_POST
def member_role(request: HttpRequest, slug: str) -> HttpResponse:
    project = access.project_for(user=request.user, slug=slug, need=Need.ADMINISTER)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        return _members_page(request, project, error=_form_error(form), status=400)
    try:
        membership = membership_set_role(
            project=project, username=form.cleaned_data["username"], role=form.cleaned_data["role"]
        )
    except MembershipRefused as exc:
        return _members_page(request, project, error=exc.message, status=exc.status)
    return _after_change(
        request, project, f"{membership.user.username} is now {membership.get_role_display()}."
    )


@login_required
@require_POST
def member_remove(request: HttpRequest, slug: str) -> HttpResponse:
    project = access.project_for(user=request.user, slug=slug, need=Need.ADMINISTER)
    form = MemberRemoveForm(request.POST)
    if not form.is_valid():
        return _members_page(request, project, error=_form_error(form), status=400)
    username = form.cleaned_data["username"]
    try:
        membership_remove(project=project, username=username)
    except MembershipRefused as exc:
        return _members_page(request, project, error=exc.message, status=exc.status)
    return _after_change(request, project, f"Removed {username.strip()} from {project.name}.")
