"""What starts a round: the threshold (and why it is not met), two triggers at once, the beat tick."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from alignment.models import (
    AlignmentPlan,
    AlignmentRound,
    RoundState,
    RoundTrigger,
    VersionKind,
)
from alignment.services.rounds import RoundNotStarted, round_start, round_trigger_status, rounds_tick
from alignment.services.versions import version_base_ensure, version_create
from annotate.models import Choice, Comparison, Project, Response, ResponseSource
from tests.alignment.rounds import (
    make_agreed_pairs,
    make_tiny_plan,
    queued_messages,
    queues_drained,
    round_wait,
    round_worker_start,
    vote_round,
)
from tests.factories import make_comparison, make_project
from tests.worker import FaultCluster, wait_for


def _at_once(calls: int, call: Any) -> list[Any]:
    """``call()`` from ``calls`` threads released together; what each returned or raised."""
    barrier = threading.Barrier(calls)
    results: list[Any] = [None] * calls

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = call()
        except Exception as exc:  # the loser's RoundNotStarted is part of the result
            results[i] = exc
        finally:
            connection.close()  # each thread has its own connection

    threads = [threading.Thread(target=run, args=(i,)) for i in range(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
class RoundTwoTriggersTests:
    def test_two_manual_starts_at_the_same_moment_start_one_round(self, fault_cluster: FaultCluster) -> None:
        project = make_project()
        make_agreed_pairs(project, 12)
        _plan(project)
        results = _at_once(2, lambda: round_start(project=project))
        started = [r for r in results if isinstance(r, AlignmentRound)]
        refused = [r for r in results if isinstance(r, RoundNotStarted)]
        assert (len(started), len(refused)) == (1, 1), results
        assert refused[0].running is not None and refused[0].running.pk == started[0].pk
        assert list(AlignmentRound.objects.filter(project=project).values_list("number", flat=True)) == [1]
        assert queued_messages(fault_cluster, "default") == [("alignment.round_snapshot", f"({started[0].pk},)")]

    def test_two_ticks_at_the_same_moment_start_one_round(self, fault_cluster: FaultCluster) -> None:
        project = make_project()
        make_agreed_pairs(project, 12)
        _plan(project)
        results = _at_once(2, rounds_tick)
        assert sorted(r.started for r in results) == [0, 1], results
        round_ = AlignmentRound.objects.get(project=project)
        assert (round_.number, round_.trigger) == (1, RoundTrigger.THRESHOLD)
        assert round_.agreed_pairs_at_start == 12
        assert queued_messages(fault_cluster, "default") == [("alignment.round_snapshot", f"({round_.pk},)")]


@pytest.mark.django_db
class RoundTriggerStatusTests:
    def test_it_counts_the_agreed_pairs_still_needed(self) -> None:
        project = make_project()
        make_agreed_pairs(project, 3)
        status = round_trigger_status(plan=_plan(project, min_new_pairs=10))
        assert (status.ready, status.reason, status.new_pairs, status.needed) == (
            False, "3 of 10 new agreed pairs", 3, 10,
        )  # fmt: skip

    def test_it_counts_only_pairs_agreed_since_the_last_round(self) -> None:
        project = make_project()
        make_agreed_pairs(project, 14)
        plan = _plan(project, min_new_pairs=10)
        _round(project, RoundState.DONE, agreed_pairs_at_start=8)
        assert round_trigger_status(plan=plan).reason == "6 of 10 new agreed pairs"

    def test_it_is_ready_with_enough_pairs(self) -> None:
        project = make_project()
        make_agreed_pairs(project, 12)
        status = round_trigger_status(plan=_plan(project, min_new_pairs=10))
        assert (status.ready, status.reason) == (True, "12 new agreed pairs")

    def test_it_waits_while_the_plan_is_paused(self) -> None:
        project = make_project()
        make_agreed_pairs(project, 12)
        status = round_trigger_status(plan=_plan(project, enabled=False))
        assert (status.ready, status.reason) == (False, "the plan is paused")

    def test_it_waits_while_a_round_runs(self) -> None:
        project = make_project()
        make_agreed_pairs(project, 12)
        plan = _plan(project)
        _round(project, RoundState.TRAINING_REWARD)
        status = round_trigger_status(plan=plan)
        assert (status.ready, status.reason) == (False, "round 1 is training the reward model")

    def test_it_waits_out_the_cooldown(self) -> None:
        project = make_project()
        make_agreed_pairs(project, 12)
        plan = _plan(project, cooldown_minutes=30)
        _round(project, RoundState.DONE)
        status = round_trigger_status(plan=plan)
        assert not status.ready and status.reason.startswith("cooling down: 29 min"), status.reason
        later = round_trigger_status(plan=plan, now=timezone.now() + timedelta(minutes=31))
        assert later.ready


def _plan(project: Project, **fields: Any) -> AlignmentPlan:
    """The tiny plan, switched on (a plan starts paused: only a manual start runs it)."""
    return make_tiny_plan(project, **{"enabled": True, **fields})


def _round(project: Project, state: str, **fields: Any) -> AlignmentRound:
    return AlignmentRound.objects.create(project=project, number=1, state=state, trigger="manual", **fields)


def _collecting_round(project: Project, games: list[str]) -> AlignmentRound:
    """A round in collecting with one new-vs-previous comparison per entry of ``games`` (no training)."""
    plan = _plan(project, min_new_pairs=1000)  # the tick must not start the next round
    base = version_base_ensure(project=project, plan=plan)
    new = version_create(
        project=project, kind=VersionKind.POLICY, champion=True, path="made/by/hand", parent=base
    )
    round_ = _round(project, RoundState.COLLECTING, start_policy=base, policy_version=new)
    for side in games:
        comparison = make_comparison(project, batch=round_.batch)
        mine, theirs = (comparison.response_a, comparison.response_b)[:: 1 if side == Choice.A else -1]
        Response.objects.filter(pk=mine.pk).update(source=ResponseSource.MODEL, model_version=new)
        Response.objects.filter(pk=theirs.pk).update(source=ResponseSource.MODEL, model_version=base)
    return round_


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
class RoundsTickTests:
    def test_it_starts_nothing_below_the_threshold(self, fault_cluster: FaultCluster) -> None:
        project = make_project()
        make_agreed_pairs(project, 3)
        _plan(project, min_new_pairs=10)
        assert rounds_tick().started == 0
        assert not AlignmentRound.objects.filter(project=project).exists()
        assert queued_messages(fault_cluster, "default") == []

    def test_it_sends_the_collect_task_that_ends_a_fully_voted_round(
        self, fault_cluster: FaultCluster, model_root: Path
    ) -> None:
        project = make_project()
        make_agreed_pairs(project, 5)
        # The new version's answer is A in two comparisons and B in one; voters pick A every time.
        round_ = _collecting_round(project, [Choice.A, Choice.A, Choice.B])
        worker = round_worker_start(fault_cluster, model_root)
        assert rounds_tick().collecting == 1
        wait_for(lambda: queues_drained(fault_cluster, worker), timeout=30, what="the first collect task")
        # Votes missing: the collect task looked and left the round waiting.
        assert AlignmentRound.objects.get(pk=round_.pk).state == RoundState.COLLECTING

        assert vote_round(round_, lambda c: Choice.A) == 3
        assert rounds_tick().collecting == 1
        done = round_wait(fault_cluster, round_.pk, RoundState.DONE, timeout=60)
        human = done.metrics[RoundState.COLLECTING]["human_win_rate"]
        assert (human["n"], round(human["rate"], 6)) == (3, round(2 / 3, 6))
        assert Comparison.objects.filter(project=project, batch=round_.batch).count() == 3
        ladder = done.metrics[RoundState.COLLECTING]["ladder"]
        assert set(ladder) == {"0", "1"} and ladder["1"] > ladder["0"]  # 2 wins of 3
