from __future__ import annotations

import pytest

from annotate.aggregation.selection import SnapshotFilters
from annotate.models import Project
from annotate.selectors.snapshots import snapshot_diff
from annotate.services.snapshots import snapshot_create
from tests.factories import (
    make_annotators,
    make_judgment,
    make_voted_pairs,
)

pytestmark = pytest.mark.django_db

LENIENT = SnapshotFilters(min_votes=1, min_agreement=0.0, drop_flagged=False)


class SnapshotDiffTests:
    def test_it_lists_added_removed_and_flipped_pairs(self, project: Project) -> None:
        first_user, second_user, third_user = make_annotators(project, 3)
        stays, flips, goes = make_voted_pairs(project, [first_user], [["a"], ["a"], ["b"]])
        before = snapshot_create(project=project, filters=LENIENT)
        make_judgment(flips, second_user, "b")
        make_judgment(flips, third_user, "b")
        make_judgment(goes, second_user, "a")  # now split: no winner
        (new,) = make_voted_pairs(project, [first_user], [["b"]])
        after = snapshot_create(project=project, filters=LENIENT)
        diff = snapshot_diff(snapshot=after)
        assert diff.previous_version == before.version
        assert (diff.added, diff.removed, diff.flipped, diff.unchanged) == (
            [new.pk],
            [goes.pk],
            [flips.pk],
            1,
        )
        assert snapshot_diff(snapshot=before).previous_version is None
        assert stays.pk not in diff.added

    def test_it_counts_only_preferences_of_a_snapshot_that_keeps_unpaired_votes(self, project: Project) -> None:
        from tests.annotate.services.export_helpers import UNPAIRED, unpaired_snapshot

        first = unpaired_snapshot(project)  # a preference, a both-bad and a tie comparison
        again = snapshot_create(project=project, filters=UNPAIRED)
        diff = snapshot_diff(snapshot=again, previous=first)
        # The both-bad and tie rows are no pairs: nothing added, removed or flipped; one pair unchanged.
        assert (diff.added, diff.removed, diff.flipped, diff.unchanged) == ([], [], [], 1)
