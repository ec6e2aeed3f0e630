"""Projects and who belongs to them."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from annotate.models import Membership, Project, Role
from annotate.services.errors import ServiceError

PROJECT_EDITABLE_FIELDS = (
    "name",
    "guidelines",
    "overlap_target",
    "lease_ttl_seconds",
    "gold_rate",
    "min_gold_accuracy",
    "min_gold_items",
    "position_bias_p",
    "min_median_seconds",
    "is_active",
)


def project_create(*, name: str, slug: str, created_by: User | None = None, **fields: Any) -> Project:
    """A validated new project; its creator (if any) becomes its admin."""
    unknown = set(fields) - set(PROJECT_EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"unknown project fields: {sorted(unknown)}")
    project = Project(name=name, slug=slug, **fields)
    project.full_clean()
    with transaction.atomic():
        project.save()
        if created_by is not None:
            Membership.objects.create(project=project, user=created_by, role=Role.ADMIN)
    return project


def project_update(*, project: Project, **fields: Any) -> Project:
    """Apply the given editable fields after validation; other fields are untouched."""
    unknown = set(fields) - set(PROJECT_EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"unknown project fields: {sorted(unknown)}")
    for name, value in fields.items():
        setattr(project, name, value)
    project.full_clean()
    project.save(update_fields=list(fields))
    return project


def membership_set(*, project: Project, user: User, role: str = Role.ANNOTATOR) -> Membership:
    """Make the user a member with this role (creating or changing the membership)."""
    membership, _ = Membership.objects.update_or_create(project=project, user=user, defaults={"role": role})
    return membership


class MembershipRefused(ServiceError):
    """A membership change that would break a rule (an unknown user, the last admin leaving, ...)."""

    code = "membership_refused"
    status = 400


def _user_by_username(username: str) -> User:
    user = User.objects.filter(username=username.strip()).first()
    if user is None:
        raise MembershipRefused(f"username: no user is called {username.strip()[:150]!r}")
    return user


def _check_role(role: str) -> None:
    if role not in Role.values:
        raise MembershipRefused(f"role: must be one of {', '.join(Role.values)}, got {role[:40]!r}")


def membership_add(*, project: Project, username: str, role: str = Role.ANNOTATOR) -> Membership:
    """A new membership of an existing user with this role; refused if they already belong to the project."""
    _check_role(role)
    user = _user_by_username(username)
    with transaction.atomic():
        membership, created = Membership.objects.get_or_create(
            project=project, user=user, defaults={"role": role}
        )
    if not created:
        raise MembershipRefused(f"username: {user.username} is already a member ({membership.role})")
    return membership


def _lock_admins(project: Project) -> list[int]:
    # Lock the project's admin rows so two concurrent demotions cannot both see "another admin is left".
    return list(
        Membership.objects.select_for_update()
        .filter(project=project, role=Role.ADMIN)
        .order_by("pk")
        .values_list("user_id", flat=True)
    )


def _membership(project: Project, username: str) -> Membership:
    membership = (
        Membership.objects.select_for_update()
        .select_related("user")
        .filter(project=project, user__username=username.strip())
        .first()
    )
    if membership is None:
        raise MembershipRefused(f"username: {username.strip()[:150]!r} is not a member of {project.slug}")
    return membership


def membership_set_role(*, project: Project, username: str, role: str) -> Membership:
    """The member's role changed to ``role``; a project always keeps at least one admin."""
    _check_role(role)
    with transaction.atomic():
        admins = _lock_admins(project)
        membership = _membership(project, username)
        if membership.role == Role.ADMIN and role != Role.ADMIN and admins == [membership.user_id]:
            raise MembershipRefused(f"role: {membership.user.username} is the last admin of {project.slug}")
        if membership.role != role:
            membership.role = role
            membership.save(update_fields=["role"])
    return membership


def membership_remove(*, project: Project, username: str) -> None:
    """The member is no longer in the project; the last admin is never removed."""
    with transaction.atomic():
        admins = _lock_admins(project)
        membership = _membership(project, username)
        if membership.role == Role.ADMIN and admins == [membership.user_id]:
            raise MembershipRefused(
                f"username: {membership.user.username} is the last admin of {project.slug}"
            )
        membership.delete()
