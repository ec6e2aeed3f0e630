"""Shared test setup: crowds the quality tests use (a drifter, colluders, one person against imports), leases, signing in."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from annotate.models import Assignment, Judgment, Project
from annotate.services.assignment import comparison_next_for_annotator
from tests.factories import (
    make_annotators,
    make_comparison,
    make_judgment,
)


def make_drifting_crowd(project: Project) -> list[User]:
    """A drifter who agrees with two steady annotators on 30 pairs, then contradicts them on 30 more."""
    drifter, steady, other = make_annotators(project, 3)
    start = timezone.now() - timedelta(days=2)
    for i in range(60):
        comparison = make_comparison(project)
        for user, choice in ((steady, "a"), (other, "a"), (drifter, "a" if i < 30 else "b")):
            judgment = make_judgment(comparison, user, choice, flipped=i % 2 == 1)
            Judgment.objects.filter(pk=judgment.pk).update(created_at=start + timedelta(minutes=10 * i))
    return [drifter, steady, other]


def make_colluding_crowd(project: Project) -> tuple[list[User], list[User]]:
    """Three accounts that take three of five votes on every third pair and all answer b; six honest annotators answer a."""
    colluders = make_annotators(project, 3)
    honest = make_annotators(project, 6)
    # Display order drawn at random, as the site draws it (a pattern here could fake a position bias).
    sides = iter(np.random.default_rng(0).random(400) < 0.5)
    for k in range(60):
        comparison = make_comparison(project)
        if k % 3:
            voters = [(h, "a") for j, h in enumerate(honest) if j != k % 6]
        else:
            voters = [(c, "b") for c in colluders] + [(honest[k % 6], "a"), (honest[(k + 1) % 6], "a")]
        for user, choice in voters:
            make_judgment(comparison, user, choice, flipped=bool(next(sides)))
    return colluders, honest


def make_one_annotator_with_imports(project: Project) -> User:
    """One person who agrees with the imported verdict on 44 of 50 comparisons."""
    (person,) = make_annotators(project, 1)
    sides = iter(np.random.default_rng(1).random(100) < 0.5)
    for i in range(50):
        comparison = make_comparison(project)
        make_judgment(comparison, None, "a", seconds=None)
        # The person agrees with the import on 44 of 50 (88%), shown in random order.
        make_judgment(comparison, person, "a" if i < 44 else "b", flipped=bool(next(sides)))
    return person


def next_lease(project: Project, user: User) -> Assignment:
    """The user's next lease, as the service hands it out (there must be one)."""
    lease = comparison_next_for_annotator(project=project, annotator=user)
    assert lease is not None
    return lease


def leased(project: Project, user: User, *, flipped: bool = False) -> Assignment:
    """The user's next lease, shown flipped or not, with both responses loaded."""
    lease = next_lease(project, user)
    Assignment.objects.filter(pk=lease.pk).update(flipped=flipped)
    return Assignment.objects.select_related("comparison__response_a", "comparison__response_b").get(
        pk=lease.pk
    )


def log_in(web: Client, user: User | None) -> None:
    if user is not None:
        web.force_login(user)
