"""Shared test factories: plain functions that create rows with sensible defaults."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import models

from annotate.models import Comparison, Judgment, Membership, Project, Prompt, Response, Role
from annotate.services.content import comparison_get_or_create, prompt_get_or_create, response_get_or_create

_seq = itertools.count(1)
PASSWORD = "correct-horse-battery"


def make_user(
    username: str | None = None, *, staff: bool = False, perms: Sequence[str] = (), **fields: Any
) -> User:
    """A user; ``perms`` are ``annotate`` model permission codenames (``view_project``, ...)."""
    User = get_user_model()
    user = User.objects.create_user(
        username=username or f"user{next(_seq)}", password=PASSWORD, is_staff=staff, **fields
    )
    if perms:
        from django.contrib.auth.models import Permission

        user.user_permissions.add(
            *Permission.objects.filter(content_type__app_label="annotate", codename__in=perms)
        )
    return user


def make_superuser(username: str | None = None) -> User:
    return make_user(username, staff=True, is_superuser=True)


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
    Comparison.objects.filter(pk=comparison.pk).update(
        vote_count=models.F("vote_count") + 1, **{f"votes_{choice}": models.F(f"votes_{choice}") + 1}
    )
    return judgment


def make_voted_pairs(
    project: Project, annotators: Sequence[User | None], votes: list[list[str]], **fields: Any
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


# --- Import files (added with the import pipeline) -----------------------------------------


def make_pair_records(count: int, *, prefix: str = "p") -> list[dict[str, Any]]:
    """``count`` distinct preference pairs ``{prompt, chosen, rejected}``."""
    return [
        {
            "prompt": f"{prefix} question {i}?",
            "chosen": f"{prefix} good answer {i}",
            "rejected": f"{prefix} bad answer {i}",
        }
        for i in range(count)
    ]


def make_import_file(
    directory: Any, records: list[dict[str, Any]], *, fmt: str = "jsonl", name: str = ""
) -> Any:
    """Write records as a JSONL, JSON, CSV or Parquet file in ``directory``; returns its path."""
    import csv
    import json
    from pathlib import Path

    path = Path(directory) / (name or f"records-{next(_seq)}.{fmt}")
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    elif fmt == "json":
        path.write_text(json.dumps(records), encoding="utf-8")
    elif fmt == "csv":
        columns = list(dict.fromkeys(k for r in records for k in r))
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            for r in records:
                writer.writerow({k: v if isinstance(v, str) else json.dumps(v) for k, v in r.items()})
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(records), path)
    else:
        raise ValueError(fmt)
    return path


def make_annotators(project: Project, n: int) -> list[User]:
    """``n`` new users, each an annotator in the project."""
    users = [make_user() for _ in range(n)]
    for user in users:
        add_member(project, user)
    return users
