"""Project lookups for API views that enforce who may see and change what."""

from __future__ import annotations

from django.http import Http404
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request

from annotate import access
from annotate.models import Assignment, Project


def project_for_annotation(request: Request, slug: str) -> Project:
    """The project if the caller may annotate it; 404 otherwise, so non-members learn nothing."""
    project = Project.objects.filter(slug=slug).first()
    if project is None or not access.can_annotate(request.user, project):
        raise Http404("No such project")
    return project


def project_for_admin(request: Request, slug: str) -> Project:
    """The project if the caller administers it; 404 for non-members, 403 for its annotators."""
    project = Project.objects.filter(slug=slug).first()
    if project is None or not access.projects_visible_to(request.user).filter(pk=project.pk).exists():
        raise Http404("No such project")
    if not access.can_administer(request.user, project):
        raise PermissionDenied("Only project admins may do this.")
    return project


def lease_for_annotator(request: Request, assignment_id: int) -> Assignment:
    """The caller's own lease in a project they may still annotate, in one query; 404 otherwise."""
    user_id = int(request.user.pk or 0)  # the views require authentication; 0 matches no one
    leases = Assignment.objects.select_related("project").filter(
        pk=assignment_id, annotator_id=user_id, project__is_active=True
    )
    if not getattr(request.user, "is_staff", False):
        leases = leases.filter(project__memberships__user_id=user_id)
    lease = leases.first()
    if lease is None:
        raise Http404("No such lease")
    return lease
