from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from annotate.models import Assignment, AssignmentStatus, Choice, Comparison, Project
from annotate.services.assignment import assignment_reclaim_expired, comparison_next_for_annotator
from annotate.services.judgments import judgment_submit
from tests.factories import make_annotators, make_comparison, make_comparisons

pytestmark = pytest.mark.django_db


class NextComparisonTests:
    def test_it_returns_the_live_lease_again(self, project: Project, annotator: User) -> None:
        make_comparisons(project, 3)
        first = comparison_next_for_annotator(project=project, annotator=annotator)
        again = comparison_next_for_annotator(project=project, annotator=annotator)
        assert first is not None and again is not None
        assert again.pk == first.pk
        assert Assignment.objects.count() == 1

    def test_it_serves_by_priority_then_fewest_votes(self, project: Project) -> None:
        low = make_comparison(project, priority=0)
        high = make_comparison(project, priority=5)
        users = make_annotators(project, 2)
        lease = comparison_next_for_annotator(project=project, annotator=users[0])
        assert lease is not None and lease.comparison_id == high.pk
        Comparison.objects.filter(pk=high.pk).update(priority=0)
        make_comparison(project)
        Comparison.objects.filter(pk=low.pk).update(slots_taken=2)
        lease2 = comparison_next_for_annotator(project=project, annotator=users[1])
        assert lease2 is not None and lease2.comparison_id not in (low.pk,)

    def test_it_never_goes_past_the_overlap_target(self, project: Project) -> None:
        project.overlap_target = 2
        project.save()
        comparison = make_comparison(project)
        users = make_annotators(project, 3)
        leases = [comparison_next_for_annotator(project=project, annotator=u) for u in users]
        assert [lease.comparison_id if lease else None for lease in leases] == [
            comparison.pk,
            comparison.pk,
            None,
        ]
        comparison.refresh_from_db()
        assert comparison.slots_taken == 2

    def test_it_does_not_serve_a_comparison_twice_to_one_annotator(
        self, project: Project, annotator: User
    ) -> None:
        make_comparison(project)
        lease = comparison_next_for_annotator(project=project, annotator=annotator)
        assert lease is not None
        judgment_submit(assignment_id=lease.pk, annotator=annotator, choice="a")
        assert comparison_next_for_annotator(project=project, annotator=annotator) is None

    def test_it_reclaims_expired_leases(self, project: Project) -> None:
        project.overlap_target = 1
        project.save()
        comparison = make_comparison(project)
        first, second = make_annotators(project, 2)
        lease = comparison_next_for_annotator(project=project, annotator=first)
        assert lease is not None
        assert comparison_next_for_annotator(project=project, annotator=second) is None
        Assignment.objects.filter(pk=lease.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
        taken = comparison_next_for_annotator(project=project, annotator=second)
        assert taken is not None and taken.comparison_id == comparison.pk
        lease.refresh_from_db()
        assert lease.status == AssignmentStatus.EXPIRED
        comparison.refresh_from_db()
        assert comparison.slots_taken == 1

    def test_it_mixes_in_gold_items_at_the_project_rate(self, project: Project, annotator: User) -> None:
        project.gold_rate = 1.0
        project.save()
        make_comparisons(project, 2)
        gold = make_comparison(project, is_gold=True, gold_answer=Choice.A)
        lease = comparison_next_for_annotator(project=project, annotator=annotator)
        assert lease is not None and lease.comparison_id == gold.pk
        judgment_submit(assignment_id=lease.pk, annotator=annotator, choice="a")
        # The only gold item is seen, so the next one is an ordinary comparison.
        lease = comparison_next_for_annotator(project=project, annotator=annotator)
        assert lease is not None and not lease.comparison.is_gold

    def test_it_serves_no_gold_when_the_rate_is_zero(self, project: Project, annotator: User) -> None:
        make_comparison(project, is_gold=True, gold_answer=Choice.A)
        normal = make_comparison(project)
        lease = comparison_next_for_annotator(project=project, annotator=annotator)
        assert lease is not None and lease.comparison_id == normal.pk


class LeaseReclaimTests:
    def test_reclaim_ignores_live_unexpired_leases(self, project: Project, annotator: User) -> None:
        make_comparison(project)
        comparison_next_for_annotator(project=project, annotator=annotator)
        assert assignment_reclaim_expired(project=project) == 0
