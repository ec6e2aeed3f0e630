"""Many annotators at once on PostgreSQL: k is never exceeded and nothing is lost or doubled."""

from __future__ import annotations

import random
import threading
from collections import Counter, defaultdict

import pytest
from django.db import connection, connections
from django.db.models import Count

from annotate.models import Assignment, AssignmentStatus, Choice, Comparison, ComparisonStatus, Judgment
from annotate.services.assignment import comparison_next_for_annotator
from annotate.services.judgments import judgment_submit, judgment_submit_and_lease_next, vote_plurality
from tests.factories import add_member, make_comparisons, make_project, make_user

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 16
COMPARISONS = 60
K = 3


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrency claims are tested on PostgreSQL")
class AssignmentConcurrencyTests:
    def test_it_keeps_the_invariants_under_sixteen_concurrent_annotators(self) -> None:
        project = make_project(overlap_target=K, gold_rate=0.0)
        make_comparisons(project, COMPARISONS)
        users = [make_user(f"worker{i}") for i in range(THREADS)]
        for user in users:
            add_member(project, user)

        submitted: list[tuple[int, int, int]] = []  # (annotator, comparison, judgment)
        errors: list[BaseException] = []
        lock = threading.Lock()
        start = threading.Barrier(THREADS)

        def annotate(user_index: int) -> None:
            rng = random.Random(user_index)
            user = users[user_index]
            try:
                start.wait()
                # Odd threads use the one-statement submit-and-next of the API, even ones the two services.
                combined = user_index % 2 == 1
                lease = comparison_next_for_annotator(project=project, annotator=user)
                while lease is not None:
                    choice = rng.choice(["a", "b", "tie", "both_bad"])
                    if combined:
                        result, upcoming = judgment_submit_and_lease_next(
                            assignment_id=lease.pk, annotator=user, choice=choice
                        )
                    else:
                        result = judgment_submit(assignment_id=lease.pk, annotator=user, choice=choice)
                    # A retried POST (a client that lost the answer) must not create a second judgment.
                    if rng.random() < 0.2:
                        again = judgment_submit(assignment_id=lease.pk, annotator=user, choice="a")
                        assert again.judgment.pk == result.judgment.pk and not again.created
                    with lock:
                        submitted.append((user.pk, lease.comparison_id, result.judgment.pk))
                    lease = upcoming if combined else comparison_next_for_annotator(project=project, annotator=user)
            except BaseException as exc:  # surfaced below; a thread's exception is otherwise lost
                errors.append(exc)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=annotate, args=(i,)) for i in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=240)
        assert not any(thread.is_alive() for thread in threads), "an annotator thread hung"
        assert errors == []

        # Every comparison received exactly k votes: none more, and none lost.
        per_comparison = Counter(c for _, c, _ in submitted)
        assert set(per_comparison.values()) == {K}
        assert len(per_comparison) == COMPARISONS
        db_counts = dict(Judgment.objects.values_list("comparison").annotate(n=Count("id")))
        assert max(db_counts.values()) == K
        assert db_counts == dict(per_comparison)
        # No annotator judged a comparison twice.
        pairs = [(a, c) for a, c, _ in submitted]
        assert len(pairs) == len(set(pairs))
        # Every submitted judgment is stored, and the counters agree with the rows.
        assert set(Judgment.objects.values_list("pk", flat=True)) == {j for _, _, j in submitted}
        assert Comparison.objects.exclude(status=ComparisonStatus.COMPLETE).count() == 0
        assert all(c.vote_count == K and c.slots_taken == K for c in Comparison.objects.all())
        # Per-choice counters, winner and agreement were counted by concurrent increments;
        # they match a tally of the stored judgments.
        tallies: dict[int, Counter[str]] = defaultdict(Counter)
        for comparison_id, choice in Judgment.objects.values_list("comparison", "choice"):
            tallies[comparison_id][choice] += 1
        for c in Comparison.objects.all():
            counted = {choice: getattr(c, f"votes_{choice}") for choice in Choice.values}
            assert counted == {choice: tallies[c.pk][choice] for choice in Choice.values}
            assert (c.winner, c.agreement) == vote_plurality(counted)
        assert Assignment.objects.filter(status=AssignmentStatus.LIVE).count() == 0
