"""Project lookups for API views that enforce who may see and change what."""

from __future__ import annotations

from django.http import Http404
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request

from annotate import access
from annotate.db import columns, instance_from_row, rows_prepared
from annotate.models import Project


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


# One prepared statement with no ORM compilation: this guards every submit and skip. Staff may use
# any active project; everyone else must still be a member of the lease's project.
_LEASE_PROJECT = f"""
SELECT {columns(Project, "p")} FROM annotate_project p JOIN annotate_assignment a ON a.project_id = p.id
WHERE a.id = %s AND a.annotator_id = %s AND p.is_active
  AND (%s OR EXISTS (SELECT 1 FROM annotate_membership m WHERE m.project_id = p.id AND m.user_id = %s))
"""


def lease_project_for_annotator(request: Request, assignment_id: int) -> Project:
    """The project of the caller's own lease, if they may still annotate it; 404 otherwise."""
    user_id = int(request.user.pk or 0)  # the views require authentication; 0 matches no one
    is_staff = bool(getattr(request.user, "is_staff", False))
    found = rows_prepared(_LEASE_PROJECT, [assignment_id, user_id, is_staff, user_id])
    if not found:
        raise Http404("No such lease")
    return instance_from_row(Project, found[0])
