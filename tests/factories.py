"""Shared test factories: plain functions that create rows with sensible defaults."""

from __future__ import annotations

import itertools
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import models

from annotate.models import Comparison, Judgment, Membership, Project, Prompt, Response, Role
from annotate.services.content import comparison_get_or_create, prompt_get_or_create, response_get_or_create

_seq = itertools.count(1)
PASSWORD = "correct-horse-battery"


def make_user(username: str | None = None, *, staff: bool = False, **fields: Any) -> User:
    User = get_user_model()
    user = User.objects.create_user(
        username=username or f"user{next(_seq)}", password=PASSWORD, is_staff=staff, **fields
    )
    return user


def make_project(slug: str | None = None, **fields: Any) -> Project:
    n = next(_seq)
    fields.setdefault("gold_rate", 0.0)
    return Project.objects.create(name=fields.pop("name", f"Project {n}"), slug=slug or f"project-{n}", **fields)


def add_member(project: Project, user: User, role: str = Role.ANNOTATOR) -> Membership:
    return Membership.objects.create(project=project, user=user, role=role)


def make_comparison(
    project: Project, *, prompt: str | list[dict[str, str]] | None = None, a: str | None = None, b: str | None = None,
    **fields: Any,
) -> Comparison:
    n = next(_seq)
    p: Prompt = prompt_get_or_create(project=project, content=prompt or f"Prompt number {n}?")[0]
    ra: Response = response_get_or_create(prompt=p, text=a or f"Answer A {n}")[0]
    rb: Response = response_get_or_create(prompt=p, text=b or f"Answer B {n}")[0]
    comparison, _ = comparison_get_or_create(prompt=p, response_a=ra, response_b=rb, **fields)
    return comparison


def make_comparisons(project: Project, count: int, **fields: Any) -> list[Comparison]:
    return [make_comparison(project, **fields) for _ in range(count)]


def make_judgment(
    comparison: Comparison, annotator: User | None, choice: str, *, strength: str = "", flipped: bool = False,
    seconds: float | None = 10.0, **fields: Any,
) -> Judgment:
    """A judgment written directly (no lease); ``annotator=None`` makes an imported vote."""
    judgment = Judgment.objects.create(
        comparison=comparison, annotator=annotator, choice=choice, strength=strength, shown_flipped=flipped,
        seconds_spent=seconds, is_imported=annotator is None, **fields,
    )
    Comparison.objects.filter(pk=comparison.pk).update(vote_count=models.F("vote_count") + 1)
    return judgment


def make_voted_pairs(
    project: Project, annotators: list[User | None], votes: list[list[str]], **fields: Any
) -> list[Comparison]:
    """One comparison per row of ``votes``; row i gives each annotator's choice ("" = no vote)."""
    comparisons = []
    for row in votes:
        comparison = make_comparison(project, **fields)
        for annotator, choice in zip(annotators, row, strict=True):
            if choice:
                make_judgment(comparison, annotator, choice, strength="better" if choice in ("a", "b") else "")
        comparisons.append(comparison)
    return comparisons
