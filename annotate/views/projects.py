"""Project pages for staff: create a project, and list, add, re-role and remove its members.

Who may: ``access.can_create_projects`` creates (and becomes the new project's admin);
readers of the project see its members; whoever administers it changes them. A project
always keeps one admin (``annotate.services.projects``). With htmx a members form answers
with the members section only, errors included (``annotate/static/annotate/pages.js``
lets htmx swap a 400); without JavaScript it answers with a redirect or the whole page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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

    def add(data: dict[str, Any]) -> str:
        membership = membership_add(project=project, username=data["username"], role=data["role"])
        return f"Added {membership.user.username} as {membership.get_role_display()}."

    return _membership_change(request, project, form=MemberAddForm(request.POST), change=add, keep_form=True)


def _membership_change(
    request: HttpRequest,
    project: Project,
    *,
    form: forms.Form,
    change: Callable[[dict[str, Any]], str],
    keep_form: bool = False,
) -> HttpResponse:
    """Validate a members form and run `change` with its data: the page with the notice it returns, or the error.

    Only the add form is shown again with the bad input (``keep_form``); the role and
    remove forms are one row's buttons.
    """
    shown = form if keep_form else None
    if not form.is_valid():
        return _members_page(request, project, add_form=shown, error=_form_error(form), status=400)
    try:
        notice = change(form.cleaned_data)
    except MembershipRefused as exc:
        return _members_page(request, project, add_form=shown, error=exc.message, status=exc.status)
    return _after_change(request, project, notice)


@login_required
@require_POST
def member_role(request: HttpRequest, slug: str) -> HttpResponse:
    project = access.project_for(user=request.user, slug=slug, need=Need.ADMINISTER)

    def set_role(data: dict[str, Any]) -> str:
        membership = membership_set_role(project=project, username=data["username"], role=data["role"])
        return f"{membership.user.username} is now {membership.get_role_display()}."

    return _membership_change(request, project, form=MemberRoleForm(request.POST), change=set_role)


@login_required
@require_POST
def member_remove(request: HttpRequest, slug: str) -> HttpResponse:
    project = access.project_for(user=request.user, slug=slug, need=Need.ADMINISTER)

    def remove(data: dict[str, Any]) -> str:
        membership_remove(project=project, username=data["username"])
        return f"Removed {data['username'].strip()} from {project.name}."

    return _membership_change(request, project, form=MemberRemoveForm(request.POST), change=remove)
