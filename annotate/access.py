"""Who may see and change what. The one place that says so: pages, the API and the admin call it.

Roles, from the most to the least powerful:

- **superuser**: everything, in every project (and the whole Django admin).
- **user with model permissions** (given in the Django admin, usually to staff): acts on
  every project only as far as those permissions go. ``annotate.view_project`` reads any
  project's data (comparisons with their gold answers, every annotator's judgments, quality,
  snapshots, exports, imports); ``annotate.change_project`` also administers any project
  (settings, imports, snapshots, exports); ``annotate.delete_project`` deletes projects;
  ``annotate.add_project`` creates them. ``is_staff`` by itself grants nothing here: it only
  lets the user log in to the Django admin, where the same permissions apply.
- **project admin** (a ``Membership`` with role ``admin``): reads, administers and
  annotates that project; cannot delete it.
- **annotator** (a ``Membership`` with role ``annotator``): annotates that project while it
  is active and sees only their own leases and judgments.
- anyone else sees nothing of a project: it answers 404, as if it did not exist. Someone who
  may know a project exists but may not do what they asked gets 403.

Annotating needs a membership (or superuser) in an active project; model permissions never
make someone an annotator. A lease is used (submitted, skipped) only by the annotator who
holds it, while it is live, in the project it belongs to (the page's URL names the project),
and only while that annotator may still annotate the project. ``may_annotate_sql`` is the
same rule in SQL (``annotate/sql/may_annotate.sql``), for the lease guard and the one-statement
submit (``annotate/sql/submit_and_lease_next.sql``).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from annotate.db import columns, instance_from_row, rows_prepared, sql_fragment, sql_statement
from annotate.models import Membership, Project, Role

AnyUser = User | AnonymousUser


class Need(StrEnum):
    """What a caller wants to do with a project."""

    VIEW = "view"  # see the project's settings (members, readers)
    ANNOTATE = "annotate"  # take, submit and skip tasks
    READ = "read"  # read all of its data: every judgment, gold answers, quality, snapshots, exports, imports
    ADMINISTER = "administer"  # change settings, import, snapshot, export
    DELETE = "delete"  # delete it and everything in it


_MESSAGES = {
    Need.VIEW: "You may not see this project.",
    Need.ANNOTATE: "You may not annotate this project (it is inactive, or you are not a member).",
    Need.READ: "Only project admins may see this.",
    Need.ADMINISTER: "Only project admins may do this.",
    Need.DELETE: "Only superusers and users with the delete_project permission may delete projects.",
}


def _perm(user: AnyUser, codename: str) -> bool:
    # ModelBackend caches a user's permissions on the instance: one query per request at most.
    return bool(user.is_authenticated and user.is_active and user.has_perm(f"annotate.{codename}"))


def reads_every_project(user: AnyUser) -> bool:
    """Superusers and holders of ``view_project`` or ``change_project`` read every project's data."""
    return (
        bool(getattr(user, "is_superuser", False))
        or _perm(user, "view_project")
        or _perm(user, "change_project")
    )


def administers_every_project(user: AnyUser) -> bool:
    """Superusers and holders of ``change_project`` administer every project."""
    return bool(getattr(user, "is_superuser", False)) or _perm(user, "change_project")


def _role(user: AnyUser, project: Project) -> str | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()


def allows(user: AnyUser, project: Project, need: Need, *, role: str | bool | None = False) -> bool:
    """Whether ``user`` may do ``need`` in ``project`` (``role``: their membership role, if already known)."""
    if not user.is_authenticated or not user.is_active:
        return False
    if getattr(user, "is_superuser", False):
        return need != Need.ANNOTATE or project.is_active
    member_role = _role(user, project) if role is False else role
    if need == Need.ANNOTATE:
        return project.is_active and member_role is not None
    if need == Need.VIEW:
        return member_role is not None or reads_every_project(user)
    if need == Need.READ:
        return member_role == Role.ADMIN or reads_every_project(user)
    if need == Need.ADMINISTER:
        return member_role == Role.ADMIN or administers_every_project(user)
    return _perm(user, "delete_project")


def project_for(*, user: AnyUser, slug: str, need: Need) -> Project:
    """The project if ``user`` may do ``need`` in it; Http404 if they may not know it exists, else PermissionDenied.

    Both exceptions are Django's, so pages and DRF views answer 404 / 403 alike.
    """
    project = Project.objects.filter(slug=slug).first()
    if project is None or not user.is_authenticated:
        raise Http404("No such project")
    role = None if getattr(user, "is_superuser", False) else _role(user, project)
    if not allows(user, project, need, role=role):
        if not allows(user, project, Need.VIEW, role=role):
            raise Http404("No such project")
        raise PermissionDenied(_MESSAGES[need])
    return project


def _projects_of(
    user: AnyUser, *, every: Callable[[AnyUser], bool], role: str | None = None
) -> QuerySet[Project]:
    """None for the anonymous or inactive; all if ``every(user)``; else those of the user's memberships (of ``role``)."""
    if not user.is_authenticated or not user.is_active:
        return Project.objects.none()
    if every(user):
        return Project.objects.all()
    if role is None:
        return Project.objects.filter(memberships__user=user).distinct()
    # One filter(): the user and the role on the same membership.
    return Project.objects.filter(memberships__user=user, memberships__role=role).distinct()


def projects_visible_to(user: AnyUser) -> QuerySet[Project]:
    """Projects the user may open: all for superusers and readers of every project, their memberships otherwise."""
    return _projects_of(user, every=reads_every_project)


def projects_administered_by(user: AnyUser) -> QuerySet[Project]:
    """Projects the user administers: all with ``change_project`` (or superuser), their admin memberships otherwise."""
    return _projects_of(user, every=administers_every_project, role=Role.ADMIN)


def projects_annotatable_by(user: AnyUser) -> QuerySet[Project]:
    """Active projects the user may annotate: their memberships (every project for superusers)."""
    if not user.is_authenticated or not user.is_active:
        return Project.objects.none()
    active = Project.objects.filter(is_active=True)
    if getattr(user, "is_superuser", False):
        return active
    return active.filter(memberships__user=user).distinct()


def projects_readable_by(user: AnyUser) -> QuerySet[Project]:
    """Projects whose data the user may read: all for readers of every project, their admin memberships otherwise."""
    return _projects_of(user, every=reads_every_project, role=Role.ADMIN)


def can_annotate(user: AnyUser, project: Project) -> bool:
    """Members (either role) and superusers may take tasks in an active project."""
    return allows(user, project, Need.ANNOTATE)


def can_administer(user: AnyUser, project: Project) -> bool:
    """Project admins, holders of ``change_project`` and superusers."""
    return allows(user, project, Need.ADMINISTER)


def can_create_projects(user: AnyUser) -> bool:
    """Superusers and holders of ``add_project`` (a project admin runs one they were given)."""
    return bool(getattr(user, "is_superuser", False)) or _perm(user, "add_project")


_MAY_ANNOTATE_SQL = sql_fragment("may_annotate")


def may_annotate_sql() -> str:
    """``can_annotate`` in SQL for the project row ``pr`` (annotate/sql/may_annotate.sql); binds ``user``, ``superuser``."""
    return _MAY_ANNOTATE_SQL


def may_annotate_params(user: AnyUser) -> dict[str, object]:
    """The parameters ``may_annotate_sql`` binds (a user id of 0 matches no one)."""
    return {
        "user": int(user.pk or 0),
        "superuser": bool(getattr(user, "is_superuser", False) and user.is_active),
    }


# One prepared statement with no ORM compilation: this guards every skip and every refused submit.
_LEASE_PROJECT = sql_statement(
    "lease_project", project_columns=columns(Project, "pr"), may_annotate=may_annotate_sql()
)


def lease_project(*, user: AnyUser, assignment_id: int, project: Project | None = None) -> Project | None:
    """The project of ``user``'s own lease if they may still annotate it (and it is ``project``, when given).

    Liveness is checked by the service that closes the lease, in the same update (a retry
    of a submit on a closed lease is answered with the first judgment).
    """
    if not user.is_authenticated:
        return None
    found = rows_prepared(_LEASE_PROJECT, {"lease": assignment_id, **may_annotate_params(user)})
    if not found:
        return None
    owner = instance_from_row(Project, found[0])
    if project is not None and owner.pk != project.pk:
        return None
    return owner


def lease_project_or_404(*, user: AnyUser, assignment_id: int, project: Project | None = None) -> Project:
    """``lease_project``, or Http404: a lease the caller may not use is not theirs to learn about."""
    owner = lease_project(user=user, assignment_id=assignment_id, project=project)
    if owner is None:
        raise Http404("No such lease")
    return owner
