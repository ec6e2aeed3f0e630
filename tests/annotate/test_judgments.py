"""Submit, skip and the text rules of ``annotate.services.judgments`` (undo: tests/annotate/test_undo.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from annotate import access
from annotate.models import (
    Assignment,
    AssignmentStatus,
    Choice,
    Comparison,
    ComparisonStatus,
    Judgment,
    Membership,
    Project,
)
from annotate.services.assignment import comparison_next_for_annotator
from annotate.services.errors import InvalidChoice, InvalidText, LeaseClosed, NotYourLease
from annotate.services.judgments import (
    RATIONALE_MAX_LENGTH,
    SKIP_REASON_MAX_LENGTH,
    annotation_text_clean,
    assignment_skip,
    canonical_choice,
    judgment_submit,
    judgment_submit_and_lease_next,
)
from tests.annotate.crowds import next_lease
from tests.factories import (
    add_member,
    make_annotators,
    make_comparison,
    make_comparisons,
    make_project,
    make_superuser,
    make_user,
)

pytestmark = pytest.mark.django_db


class JudgmentSubmitTests:
    def test_it_undoes_the_display_flip(self, project: Project, annotator: User) -> None:
        make_comparison(project)
        lease = next_lease(project, annotator)
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
        lease = next_lease(project, annotator)
        first = judgment_submit(assignment_id=lease.pk, annotator=annotator, choice="a")
        retry = judgment_submit(assignment_id=lease.pk, annotator=annotator, choice="b")
        assert first.created and not retry.created
        assert retry.judgment.pk == first.judgment.pk
        assert Judgment.objects.count() == 1
        assert Comparison.objects.get().vote_count == 1

    def test_it_refuses_someone_elses_lease(self, project: Project, annotator: User) -> None:
        make_comparison(project)
        other = make_annotators(project, 1)[0]
        lease = next_lease(project, annotator)
        with pytest.raises(NotYourLease):
            judgment_submit(assignment_id=lease.pk, annotator=other, choice="a")
        assert Judgment.objects.count() == 0

    def test_it_refuses_an_expired_lease(self, project: Project, annotator: User) -> None:
        make_comparison(project)
        lease = next_lease(project, annotator)
        Assignment.objects.filter(pk=lease.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
        with pytest.raises(LeaseClosed, match="expired"):
            judgment_submit(assignment_id=lease.pk, annotator=annotator, choice="a")

    def test_it_completes_the_comparison_at_k_votes_with_a_winner(self, project: Project) -> None:
        project.overlap_target = 3
        project.save()
        comparison = make_comparison(project)
        for user, choice in zip(make_annotators(project, 3), ["a", "a", "b"], strict=True):
            lease = next_lease(project, user)
            Assignment.objects.filter(pk=lease.pk).update(flipped=False)
            judgment_submit(assignment_id=lease.pk, annotator=user, choice=choice)
        comparison.refresh_from_db()
        assert comparison.status == ComparisonStatus.COMPLETE
        assert comparison.vote_count == 3
        assert comparison.winner == Choice.A
        assert comparison.agreement == pytest.approx(2 / 3)

    def test_it_leases_nothing_new(self, project: Project, annotator: User) -> None:
        # On PostgreSQL it runs the submit-and-next statement with the pick switched off.
        make_comparisons(project, 3)
        lease = next_lease(project, annotator)
        judgment_submit(assignment_id=lease.pk, annotator=annotator, choice="a", project=project)
        assert list(Assignment.objects.values_list("pk", "status")) == [
            (lease.pk, AssignmentStatus.SUBMITTED)
        ]
        assert sorted(Comparison.objects.values_list("slots_taken", flat=True)) == [0, 0, 1]

    @pytest.mark.parametrize("choice", ["tie", "both_bad"])
    @pytest.mark.parametrize("flipped", [False, True])
    def test_it_stores_strength_only_for_a_preference(
        self, project: Project, annotator: User, choice: str, flipped: bool
    ) -> None:
        make_comparison(project)
        lease = next_lease(project, annotator)
        Assignment.objects.filter(pk=lease.pk).update(flipped=flipped)
        result = judgment_submit(
            assignment_id=lease.pk, annotator=annotator, choice=choice, strength="better"
        )
        stored = Judgment.objects.get()
        assert (stored.choice, stored.strength, stored.shown_flipped) == (choice, "", flipped)
        assert (result.judgment.choice, result.judgment.strength) == (choice, "")
        assert getattr(Comparison.objects.get(), f"votes_{choice}") == 1


class JudgmentSubmitAndLeaseNextTests:
    """The annotator's all-day path: one statement on PostgreSQL, two services elsewhere."""

    def test_it_stores_the_vote_and_leases_the_next_comparison(
        self, project: Project, annotator: User
    ) -> None:
        make_comparisons(project, 3)
        lease = next_lease(project, annotator)
        result, upcoming = judgment_submit_and_lease_next(
            assignment_id=lease.pk, annotator=annotator, choice="a", strength="better"
        )
        assert result.created
        judgment = Judgment.objects.get()
        assert (judgment.pk, judgment.assignment_id) == (result.judgment.pk, lease.pk)
        assert judgment.choice == (Choice.B if lease.flipped else Choice.A)
        assert upcoming is not None and upcoming.comparison_id != lease.comparison_id
        stored = Assignment.objects.get(pk=upcoming.pk)
        assert (stored.status, stored.flipped, stored.annotator_id) == (
            AssignmentStatus.LIVE,
            upcoming.flipped,
            annotator.pk,
        )
        assert upcoming.comparison.response_a.text == stored.comparison.response_a.text
        assert upcoming.comparison.prompt.turns == stored.comparison.prompt.turns
        voted = Comparison.objects.get(pk=lease.comparison_id)
        assert (voted.vote_count, voted.votes_a + voted.votes_b, voted.agreement) == (1, 1, 1.0)
        assert Comparison.objects.get(pk=upcoming.comparison_id).slots_taken == 1

    def test_a_retry_answers_with_the_first_judgment_and_the_same_next_lease(
        self, project: Project, annotator: User
    ) -> None:
        make_comparisons(project, 3)
        lease = next_lease(project, annotator)
        first, upcoming = judgment_submit_and_lease_next(
            assignment_id=lease.pk, annotator=annotator, choice="tie"
        )
        again, upcoming_again = judgment_submit_and_lease_next(
            assignment_id=lease.pk, annotator=annotator, choice="tie"
        )
        assert (again.created, again.judgment.pk) == (False, first.judgment.pk)
        assert upcoming is not None and upcoming_again is not None and upcoming_again.pk == upcoming.pk
        assert (
            Judgment.objects.count() == 1 and Comparison.objects.get(pk=lease.comparison_id).vote_count == 1
        )

    def test_it_keeps_another_live_lease_instead_of_taking_a_second(
        self, project: Project, annotator: User
    ) -> None:
        make_comparisons(project, 3)
        older = next_lease(project, annotator)
        other = Comparison.objects.exclude(pk=older.comparison_id).first()
        assert other is not None
        # A second tab: a live lease the annotator got before the one they submit now.
        newer = Assignment.objects.create(
            project=project,
            comparison=other,
            annotator=annotator,
            expires_at=timezone.now() + timedelta(minutes=5),
        )
        _, upcoming = judgment_submit_and_lease_next(assignment_id=newer.pk, annotator=annotator, choice="a")
        assert upcoming is not None and upcoming.pk == older.pk
        assert Assignment.objects.filter(status=AssignmentStatus.LIVE).count() == 1

    def test_it_serves_gold_on_a_gold_turn(self, project: Project, annotator: User) -> None:
        project.gold_rate = 1.0
        project.save()
        make_comparisons(project, 2)
        gold = make_comparison(project, is_gold=True, gold_answer=Choice.A)
        lease = _lease_on(project, annotator, exclude_gold=True)
        _, upcoming = judgment_submit_and_lease_next(assignment_id=lease.pk, annotator=annotator, choice="b")
        assert upcoming is not None and upcoming.comparison_id == gold.pk

    def test_it_returns_none_at_the_end_of_the_project(self, project: Project, annotator: User) -> None:
        make_comparisons(project, 1)
        lease = next_lease(project, annotator)
        result, upcoming = judgment_submit_and_lease_next(
            assignment_id=lease.pk, annotator=annotator, choice="both_bad", strength="better"
        )
        assert upcoming is None and result.judgment.strength == ""
        assert Judgment.objects.get().strength == ""

    def test_it_refuses_someone_elses_lease_and_stores_nothing(
        self, project: Project, annotator: User
    ) -> None:
        make_comparisons(project, 2)
        lease = next_lease(project, annotator)
        (intruder,) = make_annotators(project, 1)
        with pytest.raises(NotYourLease):
            judgment_submit_and_lease_next(assignment_id=lease.pk, annotator=intruder, choice="a")
        assert Judgment.objects.count() == 0
        assert Assignment.objects.filter(annotator=intruder).count() == 0

    def test_it_refuses_a_former_member_and_stores_nothing(self, project: Project, annotator: User) -> None:
        make_comparisons(project, 2)
        lease = next_lease(project, annotator)
        Membership.objects.filter(project=project, user=annotator).delete()
        with pytest.raises(NotYourLease):
            judgment_submit_and_lease_next(assignment_id=lease.pk, annotator=annotator, choice="a")
        assert Judgment.objects.count() == 0
        assert Assignment.objects.get(pk=lease.pk).status == AssignmentStatus.LIVE


def _lease_on(project: Project, annotator: User, *, exclude_gold: bool) -> Assignment:
    """A live lease on a non-gold comparison, whatever the gold rate."""
    comparison = Comparison.objects.filter(project=project, is_gold=not exclude_gold).first()
    assert comparison is not None
    Comparison.objects.filter(pk=comparison.pk).update(slots_taken=1)
    return Assignment.objects.create(
        project=project,
        comparison=comparison,
        annotator=annotator,
        expires_at=timezone.now() + timedelta(minutes=5),
    )


class AssignmentSkipTests:
    def test_it_frees_the_slot_and_records_the_reason(self, project: Project, annotator: User) -> None:
        comparison = make_comparison(project)
        lease = next_lease(project, annotator)
        assignment_skip(assignment_id=lease.pk, annotator=annotator, reason="offensive")
        lease.refresh_from_db()
        comparison.refresh_from_db()
        assert lease.status == AssignmentStatus.SKIPPED and lease.skip_reason == "offensive"
        assert comparison.slots_taken == 0
        assert comparison_next_for_annotator(project=project, annotator=annotator) is None


class LeaseAccessRuleTests:
    """``access.can_annotate``, the SQL of the one-statement submit and the general services agree."""

    WHO = ("annotator", "project_admin", "former_member", "superuser", "staff_operator", "staff")

    def _holder(self, project: Project, who: str) -> User:
        if who == "superuser":
            return make_superuser()
        if who == "staff_operator":
            return make_user(staff=True, perms=["view_project", "change_project", "delete_project"])
        user = make_user(staff=who == "staff")
        if who in ("annotator", "project_admin", "former_member"):
            add_member(project, user, "admin" if who == "project_admin" else "annotator")
        return user

    def _live_lease(self, project: Project, user: User) -> Assignment:
        comparison = make_comparison(project)
        Comparison.objects.filter(pk=comparison.pk).update(slots_taken=1)
        return Assignment.objects.create(
            project=project,
            comparison=comparison,
            annotator=user,
            expires_at=timezone.now() + timedelta(minutes=5),
        )

    @pytest.mark.parametrize("active", [True, False])
    @pytest.mark.parametrize("who", WHO)
    @pytest.mark.parametrize("path", ["one_statement", "judgment_submit", "assignment_skip"])
    def test_every_path_applies_the_same_rule(
        self, project: Project, who: str, active: bool, path: str
    ) -> None:
        make_comparisons(project, 2)
        user = self._holder(project, who)
        lease = self._live_lease(project, user)
        if who == "former_member":
            Membership.objects.filter(user=user).delete()
        Project.objects.filter(pk=project.pk).update(is_active=active)
        project.refresh_from_db()
        allowed = access.can_annotate(user, project)
        assert allowed == (active and who in ("annotator", "project_admin", "superuser"))
        assert (access.lease_project(user=user, assignment_id=lease.pk) is not None) == allowed
        try:
            if path == "one_statement":
                judgment_submit_and_lease_next(assignment_id=lease.pk, annotator=user, choice="a")
            elif path == "judgment_submit":
                judgment_submit(assignment_id=lease.pk, annotator=user, choice="a", project=project)
            else:
                assignment_skip(assignment_id=lease.pk, annotator=user, project=project)
        except NotYourLease:
            went_through = False
        else:
            went_through = True
        assert went_through == allowed
        if not allowed:
            assert Assignment.objects.get(pk=lease.pk).status == AssignmentStatus.LIVE
        assert Judgment.objects.count() == (1 if allowed and path != "assignment_skip" else 0)

    @pytest.mark.parametrize("service", ["judgment_submit", "assignment_skip"])
    def test_the_general_services_refuse_a_lease_of_another_project(
        self, project: Project, annotator: User, service: str
    ) -> None:
        other = make_project(slug="elsewhere")
        add_member(other, annotator)
        lease = self._live_lease(project, annotator)
        with pytest.raises(NotYourLease, match="another project"):
            if service == "judgment_submit":
                judgment_submit(assignment_id=lease.pk, annotator=annotator, choice="a", project=other)
            else:
                assignment_skip(assignment_id=lease.pk, annotator=annotator, project=other)
        assert Assignment.objects.get(pk=lease.pk).status == AssignmentStatus.LIVE
        assert Judgment.objects.count() == 0


class AnnotationTextTests:
    @pytest.mark.parametrize(
        ("value", "message"),
        [
            ("a\x00b", "rationale: must not contain NUL characters"),
            (
                "x" * (RATIONALE_MAX_LENGTH + 1),
                f"rationale: at most {RATIONALE_MAX_LENGTH} characters, got 10001",
            ),
            ("ok \ud800", "rationale: invalid character at position 3 (a lone surrogate)"),
        ],
    )
    def test_it_names_what_cannot_be_stored(self, value: str, message: str) -> None:
        with pytest.raises(InvalidText) as caught:
            annotation_text_clean(field="rationale", value=value, max_length=RATIONALE_MAX_LENGTH)
        assert caught.value.message == message and caught.value.status == 400

    def test_it_strips_blanks_before_counting(self) -> None:
        value = "  " + "y" * SKIP_REASON_MAX_LENGTH + "\n"
        assert (
            annotation_text_clean(field="reason", value=value, max_length=SKIP_REASON_MAX_LENGTH)
            == value.strip()
        )

    @pytest.mark.parametrize(
        "service", ["judgment_submit", "judgment_submit_and_lease_next", "assignment_skip"]
    )
    def test_the_services_refuse_nul_and_store_nothing(
        self, project: Project, annotator: User, service: str
    ) -> None:
        make_comparisons(project, 2)
        lease = next_lease(project, annotator)
        with pytest.raises(InvalidText, match="NUL"):
            if service == "assignment_skip":
                assignment_skip(assignment_id=lease.pk, annotator=annotator, reason="bad\x00")
            elif service == "judgment_submit":
                judgment_submit(assignment_id=lease.pk, annotator=annotator, choice="a", rationale="bad\x00")
            else:
                judgment_submit_and_lease_next(
                    assignment_id=lease.pk, annotator=annotator, choice="a", rationale="bad\x00"
                )
        assert Assignment.objects.get(pk=lease.pk).status == AssignmentStatus.LIVE
        assert Judgment.objects.count() == 0
