"""A whole round through a real Celery worker on Redis: every step on the worker, votes, done.

The round's comparisons are served to annotators on the way (they must not show a model version),
and every step's message is delivered a second time once the round has moved past it (no work is
done twice). One round serves all three checks: a round is the expensive part.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from alignment.models import (
    AlignmentRound,
    ModelVersion,
    RoundState,
    RoundTrigger,
    TrainingRun,
    VersionKind,
    VersionStatus,
)
from alignment.services.rounds import round_start, round_step_run, rounds_tick
from alignment.tasks import STEP_TASKS
from annotate.models import Assignment, Comparison, JobStatus, Project, Role
from tests.alignment.rounds import (
    QUICK_REWARD,
    head_to_head,
    make_agreed_pairs,
    make_tiny_plan,
    new_policy_wins,
    queues_drained,
    round_wait,
    round_worker_start,
    vote_round,
)
from tests.factories import add_member, make_project, make_user
from tests.worker import FaultCluster, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.celery, pytest.mark.django_db(transaction=True)]

TRAINING_STATES = [
    RoundState.SNAPSHOTTING,
    RoundState.TRAINING_REWARD,
    RoundState.TRAINING_POLICY,
    RoundState.EVALUATING,
    RoundState.GENERATING,
]


def _served_text(round_: AlignmentRound, annotators: list[User]) -> list[str]:
    """What annotators get for the round's work: the API payload for one, the task page for the other."""
    project = round_.project
    api = APIClient()
    api.force_authenticate(annotators[0])
    answer = api.post(reverse("api:next", args=[project.slug]))
    assert answer.status_code == 200, answer.content
    task = answer.json()["task"]
    assert set(task) == {"assignment", "expires_at", "prompt", "response_left", "response_right"}
    web = Client()
    web.force_login(annotators[1])
    page = web.get(reverse("annotate:task", args=[project.slug]))
    assert page.status_code == 200
    # Both got one of the round's comparisons: they rank above the imported work.
    leases = Assignment.objects.filter(annotator__in=annotators).select_related("comparison")
    assert sorted(a.comparison.batch for a in leases) == [round_.batch, round_.batch]
    return [answer.content.decode(), page.content.decode()]


def _version_marks(project: Project) -> list[str]:
    """Strings that would name a model version: its label, stored path and the path the library loads."""
    marks = ["model_version", "model version"]
    for version in ModelVersion.objects.filter(project=project):
        marks += [version.label, version.path, version.location]
    return [m for m in marks if m]


class RoundOnWorkerTests:
    def test_it_runs_a_whole_round_on_a_worker_and_records_the_human_win_rate(
        self, fault_cluster: FaultCluster, model_root: Path
    ) -> None:
        project = make_project()
        make_agreed_pairs(project, 40)
        make_tiny_plan(project, reward_config=QUICK_REWARD)
        annotators = [make_user(), make_user()]
        for user in annotators:
            add_member(project, user, Role.ANNOTATOR)
        worker = round_worker_start(fault_cluster, model_root)

        started = round_start(project=project)
        round_ = round_wait(fault_cluster, started.pk, RoundState.COLLECTING)
        assert round_.trigger == RoundTrigger.MANUAL

        # Lineage: every field of the new policy filled, pointing where the round says.
        policy, reward = round_.policy_version, round_.reward_version
        assert policy is not None and reward is not None and round_.snapshot is not None
        assert (policy.kind, policy.number, reward.kind, reward.number) == (
            VersionKind.POLICY, 1, VersionKind.REWARD, 1,
        )  # fmt: skip
        assert (
            policy.parent == round_.start_policy and policy.parent is not None and policy.parent.number == 0
        )
        assert policy.round == round_ and reward.round == round_
        assert policy.snapshot == round_.snapshot and reward.snapshot == round_.snapshot
        assert policy.reward_model == reward and policy.reference == round_.plan["reference"]
        assert policy.config["strategy"] == "ppo" and policy.seed == round_.number
        assert set(policy.libraries) == {"torch", "transformers", "trl", "peft"} and all(
            policy.libraries.values()
        )
        assert policy.metrics["evaluation"]["kl"] is not None and policy.metrics["training"]
        assert policy.status in (VersionStatus.CHAMPION, VersionStatus.REJECTED) and policy.status_reason
        assert (model_root / policy.path / "config.json").exists()  # the worker wrote where the test reads
        runs = TrainingRun.objects.filter(round=round_)
        assert sorted(runs.values_list("step", "status", "attempts")) == [
            (step, JobStatus.SUCCEEDED, 1) for step in ("evaluate", "generate", "policy", "reward")
        ]
        assert all(run.worker and run.heartbeat_at for run in runs)

        # Annotators get the round's comparisons with no trace of which version wrote which side.
        served = _served_text(round_, annotators)
        for text in served:
            lowered = text.lower()
            for mark in _version_marks(project):
                assert mark.lower() not in lowered, mark
            assert not re.search(r"\b(policy|reward) v\d", lowered)

        # Every step's message again (a redelivery after the round moved on): nothing is done twice.
        versions_before = ModelVersion.objects.filter(project=project).count()
        for state in TRAINING_STATES:
            STEP_TASKS[state].delay(round_.pk)
            assert round_step_run(round_id=round_.pk, state=state) == "skipped"
        wait_for(lambda: queues_drained(fault_cluster, worker), timeout=60, what="the repeated step messages")
        assert TrainingRun.objects.filter(round=round_).count() == 4
        assert ModelVersion.objects.filter(project=project).count() == versions_before
        assert AlignmentRound.objects.get(pk=round_.pk).state == RoundState.COLLECTING

        # Votes: the new policy wins every head-to-head; the tick sends the collect task, the worker ends it.
        games = len(head_to_head(round_))
        assert games >= 1
        voted = vote_round(round_, new_policy_wins(round_))
        assert voted == Comparison.objects.filter(project=project, batch=round_.batch).count()
        assert rounds_tick().collecting == 1
        done = round_wait(fault_cluster, round_.pk, RoundState.DONE, timeout=60)
        collected = done.metrics[RoundState.COLLECTING]
        human = collected["human_win_rate"]
        assert (human["rate"], human["n"]) == (1.0, games)
        assert 0.0 < human["low"] < 1.0 == human["high"]
        counts = (collected["comparisons"], collected["completed"], collected["closed_early"])
        assert counts == (voted, voted, False)
        ladder = collected["ladder"]
        assert set(ladder) == {"0", "1"} and ladder["1"] > ladder["0"]
        assert done.finished_at is not None and all(
            done.metrics[state]["seconds"] is not None for state in (*TRAINING_STATES, RoundState.COLLECTING)
        )
        assert ModelVersion.objects.filter(project=project, kind=VersionKind.POLICY).count() == 2
