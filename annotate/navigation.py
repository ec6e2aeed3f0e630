"""Which of a project's pages a user may open, for the home page and the shared project navigation.

The rules are ``annotate.access``'s; this only turns them into links. A page another part
of the site has not installed yet (its URL name does not resolve) is left out.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse

from annotate import access
from annotate.access import AnyUser, Need
from annotate.models import Membership, Project

# (URL name, label, what the user must be allowed), in the order the navigation shows them.
PROJECT_PAGES: tuple[tuple[str, str, Need], ...] = (
    ("annotate:task", "Label", Need.ANNOTATE),
    ("annotate:mine", "My judgments", Need.ANNOTATE),
    ("annotate:imports", "Imports", Need.READ),
    ("annotate:quality", "Quality", Need.READ),
    ("annotate:snapshots", "Snapshots", Need.READ),
    ("alignment:rounds", "Rounds", Need.READ),
    ("annotate:members", "Members", Need.READ),
)


@dataclass(frozen=True)
class ProjectLink:
    name: str  # the URL name, e.g. "annotate:quality"
    label: str
    url: str


def project_links(*, user: AnyUser, project: Project, role: str | bool | None = False) -> list[ProjectLink]:
    """The project pages ``user`` may open (``role``: their membership role, if already known)."""
    if not user.is_authenticated:
        return []
    if role is False:
        role = (
            Membership.objects.filter(project=project, user_id=int(user.pk or 0))
            .values_list("role", flat=True)
            .first()
        )
    links = []
    for name, label, need in PROJECT_PAGES:
        if not access.allows(user, project, need, role=role):
            continue
        try:
            url = reverse(name, kwargs={"slug": project.slug})
        except NoReverseMatch:
            continue
        links.append(ProjectLink(name=name, label=label, url=url))
    return links


def project_rows(*, user: AnyUser) -> list[tuple[Project, list[ProjectLink]]]:
    """Every project ``user`` may open, by name, with the pages they may open in it."""
    projects = list(access.projects_visible_to(user).order_by("name"))
    roles = dict(
        Membership.objects.filter(user_id=int(user.pk or 0), project__in=projects).values_list(
            "project_id", "role"
        )
    )
    return [
        (project, project_links(user=user, project=project, role=roles.get(project.pk)))
        for project in projects
    ]
