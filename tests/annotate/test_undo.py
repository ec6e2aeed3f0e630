"""Undo of a judgment: the API on top of ``judgment_undo`` and racing submits on PostgreSQL (the pages:
tests/annotate/views/test_tasks.py; the service's own rules: tests/annotate/test_assignment.py)."""

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
from rest_framework.test import APIClient

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
    _plurality,
    judgment_submit,
    judgment_undo,
)
from annotate.services.errors import UndoRefused
from tests.annotate.crowds import leased
from tests.factories import make_annotators, make_comparison, make_comparisons, make_project

HX = {"HX-Request": "true"}


def _api(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _counters_match_the_judgments() -> None:
    """Every comparison's counters, winner and agreement are those of its stored judgments."""
    tallies: dict[int, Counter[str]] = defaultdict(Counter)
    for comparison_id, choice in Judgment.objects.values_list("comparison", "choice"):
        tallies[comparison_id][choice] += 1
    for c in Comparison.objects.all():
        counted = {choice: getattr(c, f"votes_{choice}") for choice in Choice.values}
        assert counted == {choice: tallies[c.pk][choice] for choice in Choice.values}, c.pk
        assert c.vote_count == sum(counted.values())
        assert (c.winner, c.agreement) == _plurality(counted)


@pytest.mark.django_db
class JudgmentUndoApiTests:
    def test_it_undoes_and_returns_the_same_task_in_the_same_order(
        self, project: Project, annotator: User
    ) -> None:
        make_comparisons(project, 2)
        lease = leased(project, annotator, flipped=True)
        api = _api(annotator)
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
        project.overlap_target = 2
        project.save()
        make_comparison(project)
        api = _api(annotator)
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
        response = _api(other).post(f"/api/assignments/{lease.pk}/undo/", format="json")
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
