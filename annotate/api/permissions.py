"""Project and lease lookups for API views: thin names over ``annotate.access``, the one rule."""

from __future__ import annotations

from rest_framework.request import Request

from annotate import access
from annotate.access import Need
from annotate.models import Project


def project_for_annotation(request: Request, slug: str) -> Project:
    """The project if the caller may annotate it; 404 for non-members, 403 for an inactive project."""
    return access.project_for(user=request.user, slug=slug, need=Need.ANNOTATE)


def project_for_reading(request: Request, slug: str) -> Project:
    """The project if the caller may read all of its data; 404 for non-members, 403 for its annotators."""
    return access.project_for(user=request.user, slug=slug, need=Need.READ)


def project_for_admin(request: Request, slug: str) -> Project:
    """The project if the caller administers it; 404 for non-members, 403 for its annotators."""
    return access.project_for(user=request.user, slug=slug, need=Need.ADMINISTER)


def lease_project_for_annotator(request: Request, assignment_id: int) -> Project:
    """The project of the caller's own lease, if they may still annotate it; 404 otherwise."""
    return access.lease_project_or_404(user=request.user, assignment_id=assignment_id)
