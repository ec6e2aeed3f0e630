"""Undo of a judgment: the API on top of ``judgment_undo`` and racing submits on PostgreSQL (the pages:
tests/annotate/views/test_tasks.py; the service's own rules: JudgmentUndoTests)."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection, connections
from django.utils import timezone

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
from annotate.services.errors import NotYourLease, UndoRefused
from annotate.services.judgments import (
    assignment_skip,
    judgment_submit,
    judgment_submit_and_lease_next,
    vote_plurality,
)
from annotate.services.undo import judgment_undo
from tests.annotate.crowds import leased, next_lease
from tests.clients import api_client
from tests.factories import (
    add_member,
    make_annotators,
    make_comparison,
    make_comparisons,
    make_project,
    make_user,
)

HX = {"HX-Request": "true"}


def _counters_match_the_judgments() -> None:
    """Every comparison's counters, winner and agreement are those of its stored judgments."""
    tallies: dict[int, Counter[str]] = defaultdict(Counter)
    for comparison_id, choice in Judgment.objects.values_list("comparison", "choice"):
        tallies[comparison_id][choice] += 1
    for c in Comparison.objects.all():
        counted = {choice: getattr(c, f"votes_{choice}") for choice in Choice.values}
        assert counted == {choice: tallies[c.pk][choice] for choice in Choice.values}, c.pk
        assert c.vote_count == sum(counted.values())
        assert (c.winner, c.agreement) == vote_plurality(counted)


@pytest.mark.django_db
class JudgmentUndoApiTests:
    def test_it_undoes_and_returns_the_same_task_in_the_same_order(
        self, project: Project, annotator: User
    ) -> None:
        make_comparisons(project, 2)
        lease = leased(project, annotator, flipped=True)
        api = api_client(annotator)
        submitted = api.post(f"/api/assignments/{lease.pk}/submit/", {"choice": "a"}, format="json")
        assert submitted.status_code == 201
        response = api.post(f"/api/assignments/{lease.pk}/undo/", format="json")
        assert response.status_code == 200
        body = response.json()
        assert body["undone"] == submitted.json()["judgment"]
        assert body["task"]["assignment"] == lease.pk
        # Shown flipped then, shown flipped again: B's text is still on the left.
        assert body["task"]["response_left"] == lease.comparison.response_b.text
        assert body["task"]["response_right"] == lease.comparison.response_a.text
        assert Judgment.objects.count() == 0
        assert Comparison.objects.get(pk=lease.comparison_id).vote_count == 0
        again = api.post(f"/api/assignments/{lease.pk}/submit/", {"choice": "b"}, format="json")
        assert again.status_code == 201
        assert Judgment.objects.get().choice == Choice.A

    def test_it_names_why_it_refuses(self, project: Project, annotator: User, settings: Any) -> None:
        settings.JUDGMENT_UNDO_SECONDS = 30
        _single_comparison(project, overlap=2)
        api = api_client(annotator)
        lease = leased(project, annotator)
        live = api.post(f"/api/assignments/{lease.pk}/undo/", format="json")
        assert live.status_code == 409 and live.json()["code"] == "undo_not_submitted"
        judgment_submit(assignment_id=lease.pk, annotator=annotator, choice="a")
        other = make_annotators(project, 1)[0]
        judgment_submit(assignment_id=leased(project, other).pk, annotator=other, choice="b")
        completed = api.post(f"/api/assignments/{lease.pk}/undo/", format="json")
        assert completed.status_code == 409
        assert completed.json() == {
            "code": "undo_comparison_completed",
            "detail": "too late to undo: others have since completed this comparison",
        }
        Judgment.objects.filter(assignment_id=lease.pk).update(
            created_at=Judgment.objects.get(assignment_id=lease.pk).created_at - timedelta(seconds=31)
        )
        late = api.post(f"/api/assignments/{lease.pk}/undo/", format="json")
        assert late.status_code == 409 and late.json()["code"] == "undo_window_passed"
        assert Comparison.objects.get().vote_count == 2

    def test_someone_elses_lease_is_not_found(self, project: Project, annotator: User) -> None:
        make_comparison(project)
        lease = leased(project, annotator)
        judgment_submit(assignment_id=lease.pk, annotator=annotator, choice="a")
        other = make_annotators(project, 1)[0]
        response = api_client(other).post(f"/api/assignments/{lease.pk}/undo/", format="json")
        assert response.status_code == 404
        assert Judgment.objects.filter(assignment_id=lease.pk).exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrency claims are tested on PostgreSQL")
@pytest.mark.django_db(transaction=True)
class JudgmentUndoConcurrencyTests:
    ROUNDS = 12

    def _race(self, *actions: Callable[[], Any]) -> list[Any]:
        """Run the actions at once in threads, each on its own connection; their results or exceptions."""
        results: list[Any] = [None] * len(actions)
        start = threading.Barrier(len(actions))

        def run(i: int) -> None:
            try:
                start.wait()
                results[i] = actions[i]()
            except BaseException as exc:  # returned to the test body
                results[i] = exc
            finally:
                connections.close_all()

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(actions))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads), "a thread hung"
        return results

    def test_two_undos_of_one_judgment_uncount_it_once(self) -> None:
        project = make_project(overlap_target=3)
        annotator, other = make_annotators(project, 2)
        for _ in range(self.ROUNDS):
            make_comparison(project)  # the only one either of them has not seen
            judgment_submit(assignment_id=leased(project, other).pk, annotator=other, choice="b")
            lease = leased(project, annotator)
            judgment_submit(assignment_id=lease.pk, annotator=annotator, choice="a")
            results = self._race(*[partial(judgment_undo, assignment_id=lease.pk, annotator=annotator)] * 2)
            refused = [r for r in results if isinstance(r, BaseException)]
            assert len(refused) == 1 and isinstance(refused[0], UndoRefused), results
            assert refused[0].code == "undo_not_submitted"
            # Judged anew, so the next round leases another comparison.
            judgment_submit(assignment_id=lease.pk, annotator=annotator, choice="tie")
        _counters_match_the_judgments()
        assert set(Comparison.objects.values_list("vote_count", flat=True)) == {2}

    def test_an_undo_racing_the_completing_submit_is_all_or_nothing(self) -> None:
        project = make_project(overlap_target=2)
        annotator, other = make_annotators(project, 2)
        outcomes: Counter[str] = Counter()
        for _ in range(self.ROUNDS):
            make_comparison(project)  # the only one either of them has not seen
            mine = leased(project, annotator)
            judgment_submit(assignment_id=mine.pk, annotator=annotator, choice="a")
            theirs = leased(project, other)
            assert theirs.comparison_id == mine.comparison_id
            undo, submit = self._race(
                partial(judgment_undo, assignment_id=mine.pk, annotator=annotator),
                # The one-statement submit of the hot path, on the comparison row the undo locks.
                partial(judgment_submit, assignment_id=theirs.pk, annotator=other, choice="b"),
            )
            assert not isinstance(submit, BaseException), submit
            comparison = Comparison.objects.get(pk=mine.comparison_id)
            if isinstance(undo, UndoRefused):
                # The other vote came first and completed it: nothing was taken back.
                assert undo.code == "undo_comparison_completed"
                assert (comparison.vote_count, comparison.status) == (2, ComparisonStatus.COMPLETE)
                outcomes["refused"] += 1
            else:
                assert not isinstance(undo, BaseException), undo
                assert (comparison.vote_count, comparison.votes_b, comparison.status) == (
                    1,
                    1,
                    ComparisonStatus.OPEN,
                )
                assert Assignment.objects.get(pk=mine.pk).status == AssignmentStatus.LIVE
                judgment_submit(assignment_id=mine.pk, annotator=annotator, choice="a")
                outcomes["undone"] += 1
            _counters_match_the_judgments()
        assert sum(outcomes.values()) == self.ROUNDS
        assert set(Comparison.objects.values_list("status", flat=True)) == {ComparisonStatus.COMPLETE}


def _judge(
    project: Project, user: User, choice: str, *, flipped: bool = False, **fields: object
) -> Assignment:
    """Lease the next comparison to ``user`` (shown flipped or not) and submit ``choice`` in screen terms."""
    lease = leased(project, user, flipped=flipped)
    judgment_submit(assignment_id=lease.pk, annotator=user, choice=choice, **fields)  # type: ignore[arg-type]
    return lease


def _single_comparison(project: Project, *, overlap: int) -> Comparison:
    """The project's one comparison, with ``overlap`` votes wanted on it."""
    project.overlap_target = overlap
    project.save()
    return make_comparison(project)


def _state(comparison: Comparison) -> tuple[object, ...]:
    c = Comparison.objects.get(pk=comparison.pk)
    return (c.votes_a, c.votes_b, c.votes_tie, c.votes_both_bad, c.vote_count, c.winner, c.agreement, c.status,
            c.slots_taken)  # fmt: skip


class JudgmentUndoTests:
    def test_it_uncounts_exactly_its_vote_and_serves_the_lease_back(
        self, project: Project, annotator: User
    ) -> None:
        comparison = _single_comparison(project, overlap=4)
        others = make_annotators(project, 2)
        _judge(project, others[0], "a")
        _judge(project, others[1], "b")
        before = _state(comparison)
        # Shown flipped: the "B" pressed on screen is stored as canonical A, which is what must be uncounted.
        lease = _judge(project, annotator, "b", flipped=True, strength="slightly", rationale="B is clearer")
        assert _state(comparison)[:7] == (2, 1, 0, 0, 3, "a", pytest.approx(2 / 3))
        result = judgment_undo(assignment_id=lease.pk, annotator=annotator)
        # The counters as before the vote; the slot stays taken by the lease, live again.
        assert _state(comparison)[:8] == before[:8] == (1, 1, 0, 0, 2, "", 0.5, ComparisonStatus.OPEN)
        assert _state(comparison)[8] == 3
        assert not Judgment.objects.filter(assignment_id=lease.pk).exists()
        reopened = Assignment.objects.get(pk=lease.pk)
        assert (reopened.status, reopened.closed_at, reopened.flipped) == (AssignmentStatus.LIVE, None, True)
        assert reopened.expires_at > timezone.now()
        assert result.lease.pk == lease.pk and result.lease.comparison.response_a.text
        served = comparison_next_for_annotator(project=project, annotator=annotator)
        assert served is not None and served.pk == lease.pk
        # Judged anew, it counts once.
        judgment_submit(assignment_id=lease.pk, annotator=annotator, choice="tie")
        assert _state(comparison)[:5] == (1, 1, 1, 0, 3)

    def test_it_reopens_a_comparison_its_own_vote_completed(self, project: Project, annotator: User) -> None:
        comparison = _single_comparison(project, overlap=2)
        _judge(project, make_annotators(project, 1)[0], "a")
        lease = _judge(project, annotator, "a")
        assert _state(comparison)[4:8] == (2, "a", 1.0, ComparisonStatus.COMPLETE)
        judgment_undo(assignment_id=lease.pk, annotator=annotator)
        assert _state(comparison) == (1, 0, 0, 0, 1, "a", 1.0, ComparisonStatus.OPEN, 2)

    def test_it_leaves_no_winner_when_the_last_vote_is_taken_back(
        self, project: Project, annotator: User
    ) -> None:
        comparison = make_comparison(project)
        lease = _judge(project, annotator, "both_bad")
        judgment_undo(assignment_id=lease.pk, annotator=annotator)
        assert _state(comparison) == (0, 0, 0, 0, 0, "", None, ComparisonStatus.OPEN, 1)

    def test_it_allows_undo_after_others_voted_while_still_open(
        self, project: Project, annotator: User
    ) -> None:
        comparison = _single_comparison(project, overlap=3)
        lease = _judge(project, annotator, "a")
        _judge(project, make_annotators(project, 1)[0], "b")
        judgment_undo(assignment_id=lease.pk, annotator=annotator)
        assert _state(comparison)[:8] == (0, 1, 0, 0, 1, "b", 1.0, ComparisonStatus.OPEN)

    def test_it_refuses_once_others_completed_the_comparison(self, project: Project, annotator: User) -> None:
        comparison = _single_comparison(project, overlap=2)
        lease = _judge(project, annotator, "a")
        _judge(project, make_annotators(project, 1)[0], "b")
        before = _state(comparison)
        with pytest.raises(UndoRefused, match="others have since completed") as refused:
            judgment_undo(assignment_id=lease.pk, annotator=annotator)
        assert (refused.value.code, refused.value.status) == ("undo_comparison_completed", 409)
        assert _state(comparison) == before and before[7] == ComparisonStatus.COMPLETE
        assert Judgment.objects.filter(assignment_id=lease.pk).exists()

    def test_it_refuses_after_the_window(self, project: Project, annotator: User, settings: object) -> None:
        settings.JUDGMENT_UNDO_SECONDS = 30  # type: ignore[attr-defined]
        comparison = make_comparison(project)
        lease = _judge(project, annotator, "a")
        created = Judgment.objects.get(assignment_id=lease.pk).created_at
        before = _state(comparison)
        with pytest.raises(UndoRefused, match="for 30 s after") as refused:
            judgment_undo(assignment_id=lease.pk, annotator=annotator, now=created + timedelta(seconds=30))
        assert refused.value.code == "undo_window_passed"
        assert _state(comparison) == before
        judgment_undo(assignment_id=lease.pk, annotator=annotator, now=created + timedelta(seconds=29))
        assert _state(comparison)[4] == 0

    def test_it_refuses_someone_elses_judgment_and_changes_nothing(
        self, project: Project, annotator: User
    ) -> None:
        comparison = make_comparison(project)
        lease = _judge(project, annotator, "a")
        before = _state(comparison)
        for intruder in (make_annotators(project, 1)[0], make_user("stranger")):
            with pytest.raises(NotYourLease):
                judgment_undo(assignment_id=lease.pk, annotator=intruder)
        with pytest.raises(NotYourLease):
            judgment_undo(assignment_id=10**9, annotator=annotator)
        assert _state(comparison) == before
        assert Assignment.objects.get(pk=lease.pk).status == AssignmentStatus.SUBMITTED

    def test_it_refuses_a_former_member_and_another_projects_page(
        self, project: Project, annotator: User
    ) -> None:
        make_comparison(project)
        lease = _judge(project, annotator, "a")
        other = make_project(slug="elsewhere")
        add_member(other, annotator)
        with pytest.raises(NotYourLease):
            judgment_undo(assignment_id=lease.pk, annotator=annotator, project=other)
        Membership.objects.filter(project=project, user=annotator).delete()
        with pytest.raises(NotYourLease):
            judgment_undo(assignment_id=lease.pk, annotator=annotator)
        assert Judgment.objects.filter(assignment_id=lease.pk).exists()

    def test_it_undoes_once_and_never_a_live_or_skipped_lease(
        self, project: Project, annotator: User
    ) -> None:
        make_comparisons(project, 3)
        lease = _judge(project, annotator, "a")
        judgment_undo(assignment_id=lease.pk, annotator=annotator)
        with pytest.raises(UndoRefused, match="this lease is live") as refused:
            judgment_undo(assignment_id=lease.pk, annotator=annotator)
        assert refused.value.code == "undo_not_submitted"
        assignment_skip(assignment_id=lease.pk, annotator=annotator)
        with pytest.raises(UndoRefused, match="this lease is skipped"):
            judgment_undo(assignment_id=lease.pk, annotator=annotator)
        assert Comparison.objects.get(pk=lease.comparison_id).vote_count == 0

    def test_it_undoes_a_gold_item_like_any_other(self, annotator: User) -> None:
        # Refusing (or answering differently) would tell the annotator which items are gold.
        project = Project.objects.get(memberships__user=annotator)
        project.gold_rate = 1.0
        project.save()
        gold = make_comparison(project, is_gold=True, gold_answer=Choice.B)
        lease = _judge(project, annotator, "a")
        assert lease.comparison_id == gold.pk
        judgment_undo(assignment_id=lease.pk, annotator=annotator)
        assert _state(gold) == (0, 0, 0, 0, 0, "", None, ComparisonStatus.OPEN, 0)
        served = comparison_next_for_annotator(project=project, annotator=annotator)
        assert served is not None and served.pk == lease.pk

    def test_it_serves_the_undone_comparison_before_the_next_one_held(
        self, project: Project, annotator: User
    ) -> None:
        make_comparisons(project, 3)
        lease = next_lease(project, annotator)
        _, upcoming = judgment_submit_and_lease_next(assignment_id=lease.pk, annotator=annotator, choice="a")
        assert upcoming is not None and upcoming.pk != lease.pk
        judgment_undo(assignment_id=lease.pk, annotator=annotator)
        assert comparison_next_for_annotator(project=project, annotator=annotator).pk == lease.pk  # type: ignore[union-attr]
        judgment_submit(assignment_id=lease.pk, annotator=annotator, choice="b")
        # The lease held meanwhile is served next, not a third comparison.
        assert comparison_next_for_annotator(project=project, annotator=annotator).pk == upcoming.pk  # type: ignore[union-attr]
