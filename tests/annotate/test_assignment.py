from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from annotate.models import (
    Assignment,
    AssignmentStatus,
    Choice,
    Comparison,
    ComparisonStatus,
    Judgment,
    Project,
)
from annotate.services.assignment import (
    assignment_reclaim_expired,
    assignment_skip,
    canonical_choice,
    comparison_next_for_annotator,
    judgment_submit,
)
from annotate.services.errors import InvalidChoice, LeaseClosed, NotYourLease
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
        assert [lease.comparison_id if lease else None for lease in leases] == [comparison.pk, comparison.pk, None]
        comparison.refresh_from_db()
        assert comparison.slots_taken == 2

    def test_it_does_not_serve_a_comparison_twice_to_one_annotator(self, project: Project, annotator: User) -> None:
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


class JudgmentSubmitTests:
    def test_it_undoes_the_display_flip(self, project: Project, annotator: User) -> None:
        make_comparison(project)
        lease = comparison_next_for_annotator(project=project, annotator=annotator)
        assert lease is not None
        Assignment.objects.filter(pk=lease.pk).update(flipped=True)
        result = judgment_submit(assignment_id=lease.pk, annotator=annotator, choice="a", strength="slightly")
        assert result.judgment.choice == Choice.B
        assert result.judgment.shown_flipped is True
        assert result.judgment.strength == "slightly"

    def test_canonical_choice_keeps_tie_and_both_bad(self) -> None:
        assert canonical_choice(display_choice="tie", flipped=True) == Choice.TIE
        assert canonical_choice(display_choice="both_bad", flipped=True) == Choice.BOTH_BAD
        with pytest.raises(InvalidChoice, match="choice must be one of"):
            canonical_choice(display_choice="left", flipped=False)

    def test_it_is_idempotent(self, project: Project, annotator: User) -> None:
        make_comparison(project)
        lease = comparison_next_for_annotator(project=project, annotator=annotator)
        assert lease is not None
        first = judgment_submit(assignment_id=lease.pk, annotator=annotator, choice="a")
        retry = judgment_submit(assignment_id=lease.pk, annotator=annotator, choice="b")
        assert first.created and not retry.created
        assert retry.judgment.pk == first.judgment.pk
        assert Judgment.objects.count() == 1
        assert Comparison.objects.get().vote_count == 1

    def test_it_refuses_someone_elses_lease(self, project: Project, annotator: User) -> None:
        make_comparison(project)
        other = make_annotators(project, 1)[0]
        lease = comparison_next_for_annotator(project=project, annotator=annotator)
        assert lease is not None
        with pytest.raises(NotYourLease):
            judgment_submit(assignment_id=lease.pk, annotator=other, choice="a")
        assert Judgment.objects.count() == 0

    def test_it_refuses_an_expired_lease(self, project: Project, annotator: User) -> None:
        make_comparison(project)
        lease = comparison_next_for_annotator(project=project, annotator=annotator)
        assert lease is not None
        Assignment.objects.filter(pk=lease.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
        with pytest.raises(LeaseClosed, match="expired"):
            judgment_submit(assignment_id=lease.pk, annotator=annotator, choice="a")

    def test_it_completes_the_comparison_at_k_votes_with_a_winner(self, project: Project) -> None:
        project.overlap_target = 3
        project.save()
        comparison = make_comparison(project)
        for user, choice in zip(make_annotators(project, 3), ["a", "a", "b"], strict=True):
            lease = comparison_next_for_annotator(project=project, annotator=user)
            assert lease is not None
            Assignment.objects.filter(pk=lease.pk).update(flipped=False)
            judgment_submit(assignment_id=lease.pk, annotator=user, choice=choice)
        comparison.refresh_from_db()
        assert comparison.status == ComparisonStatus.COMPLETE
        assert comparison.vote_count == 3
        assert comparison.winner == Choice.A
        assert comparison.agreement == pytest.approx(2 / 3)


class AssignmentSkipTests:
    def test_it_frees_the_slot_and_records_the_reason(self, project: Project, annotator: User) -> None:
        comparison = make_comparison(project)
        lease = comparison_next_for_annotator(project=project, annotator=annotator)
        assert lease is not None
        assignment_skip(assignment_id=lease.pk, annotator=annotator, reason="offensive")
        lease.refresh_from_db()
        comparison.refresh_from_db()
        assert lease.status == AssignmentStatus.SKIPPED and lease.skip_reason == "offensive"
        assert comparison.slots_taken == 0
        assert comparison_next_for_annotator(project=project, annotator=annotator) is None

    def test_reclaim_ignores_live_unexpired_leases(self, project: Project, annotator: User) -> None:
        make_comparison(project)
        comparison_next_for_annotator(project=project, annotator=annotator)
        assert assignment_reclaim_expired(project=project) == 0
