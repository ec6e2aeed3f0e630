"""Reads of a project's dataset snapshots and what changed between two versions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from annotate.models import (
    Project,
    Snapshot,
    SnapshotPair,
)
from annotate.models.snapshots import VoteKind

_CHUNK = 20_000


def snapshot_list(*, project: Project) -> QuerySet[Snapshot]:
    """A project's snapshots, newest version first."""
    return Snapshot.objects.filter(project=project).select_related("created_by").order_by("-version")


def snapshot_get(*, project: Project, version: int) -> Snapshot | None:
    """The project's snapshot with this version number, if any."""
    return Snapshot.objects.filter(project=project, version=version).first()


@dataclass(frozen=True)
class SnapshotDiff:
    """How ``snapshot`` differs from ``previous``, by comparison id."""

    previous_version: int | None
    added: list[int]
    removed: list[int]
    flipped: list[int]  # kept in both, but the other response is chosen now
    unchanged: int

    def summary(self) -> dict[str, Any]:
        return {
            "previous_version": self.previous_version,
            "added": len(self.added),
            "removed": len(self.removed),
            "flipped": len(self.flipped),
            "unchanged": self.unchanged,
        }


def _pair_orientation(snapshot: Snapshot) -> dict[int, bool]:
    # Preferences only: a both-bad or tie row (a keep_unpaired snapshot) has no chosen side to flip.
    return dict(
        SnapshotPair.objects.filter(snapshot=snapshot, vote_kind=VoteKind.PREFERENCE)
        .order_by()
        .values_list("comparison_id", "chosen_is_a")
        .iterator(chunk_size=_CHUNK)
    )


def snapshot_diff(*, snapshot: Snapshot, previous: Snapshot | None = None) -> SnapshotDiff:
    """Pairs added, removed and flipped since ``previous`` (default: the version before this one)."""
    if previous is None:
        previous = (
            Snapshot.objects.filter(project_id=snapshot.project_id, version__lt=snapshot.version)
            .order_by("-version")
            .first()
        )
    now = _pair_orientation(snapshot)
    before = _pair_orientation(previous) if previous is not None else {}
    added = sorted(now.keys() - before.keys())
    removed = sorted(before.keys() - now.keys())
    both = now.keys() & before.keys()
    flipped = sorted(c for c in both if now[c] != before[c])
    return SnapshotDiff(
        previous_version=previous.version if previous else None,
        added=added,
        removed=removed,
        flipped=flipped,
        unchanged=len(both) - len(flipped),
    )
