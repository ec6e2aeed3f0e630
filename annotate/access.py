"""Who may see and change what. One place, used by pages, the API and the admin.

Staff users administer every project. Otherwise a member with role ``admin``
administers that project, and a member with role ``annotator`` may annotate it
and see only their own leases and judgments. Non-members see nothing of it.
"""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet

from annotate.models import Membership, Project, Role

AnyUser = User | AnonymousUser


def projects_visible_to(user: AnyUser) -> QuerySet[Project]:
    """Projects the user may open: all for staff, their memberships otherwise."""
    if not user.is_authenticated:
        return Project.objects.none()
    if getattr(user, "is_staff", False):
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user).distinct()


def can_annotate(user: AnyUser, project: Project) -> bool:
    """Members (either role) and staff may take tasks in an active project."""
    if not user.is_authenticated or not project.is_active:
        return False
    if getattr(user, "is_staff", False):
        return True
    return Membership.objects.filter(project=project, user=user).exists()


def can_administer(user: AnyUser, project: Project) -> bool:
    """Staff, or a member whose role in this project is admin."""
    if not user.is_authenticated:
        return False
    if getattr(user, "is_staff", False):
        return True
    return Membership.objects.filter(project=project, user=user, role=Role.ADMIN).exists()


def can_create_projects(user: AnyUser) -> bool:
    """Only staff create projects (a project admin runs one they were given)."""
    return bool(user.is_authenticated and getattr(user, "is_staff", False))
