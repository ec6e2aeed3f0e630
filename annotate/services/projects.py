"""Projects and who belongs to them."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from annotate.models import Membership, Project, Role

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
