"""Rounds when things go wrong: a worker killed mid-PPO, a step that fails, a cancel, a bad plan config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from alignment.models import AlignmentRound, ModelVersion, RoundState, RunStep, TrainingRun, VersionKind
from alignment.services.plans import PlanInvalid, plan_get_or_create, plan_update
from alignment.services.rounds import round_cancel, round_retry, round_start, round_step_run
from alignment.services.runs import TRAINING_RUNS
from annotate.models import JobStatus
from annotate.services.jobs import job_reap
from tests.alignment.rounds import (
    QUICK_REWARD,
    TINY_PPO,
    TINY_REWARD,
    make_agreed_pairs,
    make_tiny_plan,
    new_policy_wins,
    queues_drained,
    round_wait,
    round_worker_start,
    vote_round,
)
from tests.factories import make_project
from tests.worker import FaultCluster, wait_for

PPO_STEPS = 4


def _run(round_: AlignmentRound, step: str) -> TrainingRun | None:
    return TrainingRun.objects.filter(round=round_, step=step).order_by("-pk").first()


def _first_checkpoint(round_: AlignmentRound, model_root: Path) -> Path | None:
    """The policy run's checkpoint once PPO has written one (after its first step), else None.

    The test watches the file, not the run's ``processed``: progress reaches the database about once a
    second, and four tiny PPO steps can be done inside that second."""
    run = _run(round_, RunStep.POLICY)
    if run is None or run.status != JobStatus.RUNNING:
        return None
    checkpoint = model_root / run.out_dir / "checkpoint" / "state.pt"
    return checkpoint if checkpoint.exists() else None


def _checkpoint_step(checkpoint: Path) -> int:
    import torch

    return int(torch.load(checkpoint, map_location="cpu", weights_only=False)["step"])


@pytest.mark.slow
@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
class RoundWorkerKilledTests:
    def test_it_resumes_ppo_from_its_checkpoint_after_kill_9_and_makes_one_version(
        self, fault_cluster: FaultCluster, model_root: Path, settings: Any
    ) -> None:
        settings.CONCORD_JOB_STALE_SECONDS = 3  # this process runs the reaper (the worker has FAULT_ENV)
        project = make_project()
        make_agreed_pairs(project, 40)
        make_tiny_plan(
            project,
            reward_config=QUICK_REWARD,
            policy_config={**TINY_PPO, "max_steps": PPO_STEPS, "save_steps": 1},
        )
        worker = round_worker_start(fault_cluster, model_root)
        round_ = round_start(project=project)
        checkpoint = wait_for(
            lambda: _first_checkpoint(round_, model_root),
            timeout=300,
            interval=0.02,
            what=f"PPO's first checkpoint\n{fault_cluster.logs()}",
        )
        worker.kill_all()  # within a poll of the first checkpoint: steps 2..4 are still to run
        killed_at = _checkpoint_step(checkpoint)
        running = TrainingRun.objects.get(round=round_, step=RunStep.POLICY)
        assert running.status == JobStatus.RUNNING and 1 <= killed_at < PPO_STEPS, (running.status, killed_at)
        round_worker_start(fault_cluster, model_root)  # the worker comes back; the killed message does not

        # The reaper finds the run's heartbeat stale, queues it again and sends the step's task.
        wait_for(lambda: job_reap(kinds=[TRAINING_RUNS]).requeued, timeout=30, what="the reaper's requeue")
        collecting = round_wait(fault_cluster, round_.pk, RoundState.COLLECTING, timeout=300)

        run = TrainingRun.objects.get(round=round_, step=RunStep.POLICY)  # one run, two attempts
        assert (run.pk, run.status, run.attempts) == (running.pk, JobStatus.SUCCEEDED, 2)
        assert run.retry_reason.startswith("worker lost"), run.retry_reason
        # It went on from the checkpoint of the killed attempt, to the configured end.
        assert run.result["resumed_from_step"] >= killed_at >= 1
        assert run.result["steps"] == PPO_STEPS and len(run.result["history"]) == PPO_STEPS
        assert (run.processed, run.total) == (PPO_STEPS, PPO_STEPS)

        vote_round(collecting, new_policy_wins(collecting))
        assert round_step_run(round_id=round_.pk, state=RoundState.COLLECTING) == "advanced"
        done = AlignmentRound.objects.get(pk=round_.pk)
        assert done.state == RoundState.DONE
        policies = ModelVersion.objects.filter(project=project, kind=VersionKind.POLICY).order_by("number")
        assert [v.number for v in policies] == [0, 1] and done.policy_version == policies[1]
        assert policies[1].path == collecting.metrics[RoundState.TRAINING_POLICY]["policy_path"]


@pytest.mark.slow
@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
class RoundStepFailureTests:
    def test_a_missing_reward_model_fails_the_round_and_retry_completes_it(
        self, fault_cluster: FaultCluster, model_root: Path
    ) -> None:
        project = make_project()
        make_agreed_pairs(project, 40)
        make_tiny_plan(project, reward_config=QUICK_REWARD, policy_config={**TINY_PPO, "max_steps": 1})
        round_ = round_start(project=project)  # its message waits: no worker yet
        # The first two steps here, so that the reward model can go missing before the policy step.
        for state in (RoundState.SNAPSHOTTING, RoundState.TRAINING_REWARD):
            assert round_step_run(round_id=round_.pk, state=state) == "advanced"
        round_.refresh_from_db()
        assert round_.reward_version is not None
        reward_folder = Path(round_.reward_version.location)
        aside = reward_folder.with_name("reward_model.moved")
        reward_folder.rename(aside)

        assert round_step_run(round_id=round_.pk, state=RoundState.TRAINING_POLICY) == "failed"
        failed = AlignmentRound.objects.get(pk=round_.pk)
        assert (failed.state, failed.failed_step) == (RoundState.FAILED, RoundState.TRAINING_POLICY)
        assert "reward_model" in failed.error, failed.error
        run = TrainingRun.objects.get(round=round_, step=RunStep.POLICY)
        assert run.status == JobStatus.FAILED and run.error_message.split(":")[0] in failed.error

        aside.rename(reward_folder)
        worker = round_worker_start(fault_cluster, model_root)
        retried = round_retry(round_=failed)
        assert (retried.state, retried.failed_step, retried.error) == (RoundState.TRAINING_POLICY, "", "")
        collecting = round_wait(fault_cluster, round_.pk, RoundState.COLLECTING)
        # The retry ran the policy step again in a run of its own and went on; the failed run is kept.
        policy_runs = TrainingRun.objects.filter(round=round_, step=RunStep.POLICY).order_by("pk")
        assert [r.status for r in policy_runs] == [JobStatus.FAILED, JobStatus.SUCCEEDED]
        reward_runs = TrainingRun.objects.filter(round=round_, step=RunStep.REWARD)
        assert [r.status for r in reward_runs] == [JobStatus.SUCCEEDED]  # finished steps are not redone
        assert (
            collecting.policy_version is not None
            and collecting.policy_version.reward_model == round_.reward_version
        )
        wait_for(lambda: queues_drained(fault_cluster, worker), timeout=30, what="the worker to go idle")

    def test_cancel_stops_the_running_step_at_its_next_progress_event(
        self, fault_cluster: FaultCluster, model_root: Path
    ) -> None:
        project = make_project()
        make_agreed_pairs(project, 40)
        make_tiny_plan(project, reward_config={**TINY_REWARD, "max_steps": 500})
        worker = round_worker_start(fault_cluster, model_root)
        round_ = round_start(project=project)

        def reward_training() -> TrainingRun | None:
            run = _run(round_, RunStep.REWARD)
            return run if run is not None and run.status == JobStatus.RUNNING and run.processed >= 1 else None

        wait_for(reward_training, timeout=240, what=f"the reward run training\n{fault_cluster.logs()}")
        cancelled = round_cancel(round_=round_)
        assert cancelled.state == RoundState.CANCELLED and cancelled.finished_at is not None

        def stopped() -> TrainingRun | None:
            run = _run(round_, RunStep.REWARD)
            return run if run is not None and run.is_finished else None

        run = wait_for(stopped, timeout=60, what=f"the reward run to stop\n{fault_cluster.logs()}")
        assert (run.status, run.error_message) == (JobStatus.FAILED, "the round was cancelled")
        assert run.processed < 500 and run.total == 500  # stopped part-way, not run to its end
        # The worker is free again, the round stays cancelled and nothing was made after it.
        wait_for(lambda: queues_drained(fault_cluster, worker), timeout=30, what="the worker to go idle")
        final = AlignmentRound.objects.get(pk=round_.pk)
        assert (final.state, final.reward_version, final.policy_version) == (RoundState.CANCELLED, None, None)
        assert not TrainingRun.objects.filter(round=round_).exclude(step=RunStep.REWARD).exists()


@pytest.mark.django_db
class PlanConfigRefusedTests:
    @pytest.mark.parametrize(
        ("field", "value", "key"),
        [
            ("policy_config", {"max_stepz": 3}, "max_stepz"),
            ("reward_config", {"learning_rate": "fast"}, "learning_rate"),
            ("generate_config", {"response_length": -1}, "response_length"),
            ("policy_config", {"model_name": "other"}, "model_name"),  # the plan sets it for each round
        ],
    )
    def test_it_refuses_a_bad_config_naming_the_key(
        self, field: str, value: dict[str, Any], key: str
    ) -> None:
        plan = plan_get_or_create(project=make_project())
        with pytest.raises(PlanInvalid) as refused:
            plan_update(plan=plan, **{field: value})
        assert refused.value.as_dict()["field"] == field and refused.value.key == key
        assert key in str(refused.value)
        plan.refresh_from_db()
        assert getattr(plan, field) != value  # nothing was stored
