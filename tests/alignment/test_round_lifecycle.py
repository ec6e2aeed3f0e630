"""A round's steps and their runs at the edges of the job lifecycle: a claim lost at the end, a heartbeat
without its connection, a run out of attempts, a lost step message re-sent, a cancelled round's orphan
run, a diverged loss in a progress event, two deliveries writing one rows file, a refused start.

The library's work is a small fake of ``alignment.training.run_step`` (no torch); the database and
the broker are real.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.db.models import F
from django.utils import timezone

from alignment.models import AlignmentPlan, AlignmentRound, ModelVersion, RoundState, RunStep, TrainingRun
from alignment.services.rounds import (
    RoundNotStarted,
    round_cancel,
    round_retry,
    round_start,
    round_step_run,
    rounds_tick,
)
from alignment.services.runs import TRAINING_RUNS, RunProgress, run_step_in_claim
from alignment.services.steps.folder import jsonl_read, jsonl_write
from annotate.models import Job, JobStatus, Project
from annotate.services.jobs import JobClaim, JobLost, ReapResult, job_claim, job_reap
from tests.alignment.rounds import make_agreed_pairs, make_tiny_plan, queued_messages
from tests.factories import make_project
from tests.worker import FaultCluster, wait_for


@dataclass
class _Result:
    values: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return self.values


@dataclass
class FakeLibrary:
    """``alignment.training.run_step`` for a reward step: a result at once. ``during`` runs mid-work."""

    calls: int = 0
    during: Callable[[], None] | None = None

    def __call__(self, config: Any, rows: Any, out_dir: Any, *, progress: Any = None, **_: Any) -> _Result:
        self.calls += 1
        if progress is not None:
            progress({"event": "start", "step": "reward", "total_steps": 2})
        if self.during is not None:
            self.during()
        model = Path(out_dir) / "reward_model"
        model.mkdir(parents=True, exist_ok=True)
        return _Result({"model_path": str(model), "metrics": {"eval_accuracy": 0.75}, "train_pairs": 10})


@pytest.fixture
def library(monkeypatch: pytest.MonkeyPatch) -> FakeLibrary:
    import alignment.training

    fake = FakeLibrary()
    monkeypatch.setattr(alignment.training, "run_step", fake, raising=False)
    return fake


def _reward_round(project: Project) -> AlignmentRound:
    """Round 1, its snapshot taken, at its reward step (whose message no worker got: no commit here)."""
    make_agreed_pairs(project, 12)
    make_tiny_plan(project)
    round_ = round_start(project=project)
    assert round_step_run(round_id=round_.pk, state=RoundState.SNAPSHOTTING) == "advanced"
    round_.refresh_from_db()
    assert round_.state == RoundState.TRAINING_REWARD
    return round_


def _reward_run(round_: AlignmentRound, **fields: Any) -> TrainingRun:
    return TrainingRun.objects.create(
        round=round_, step=RunStep.REWARD, out_dir=f"r{round_.pk}/reward", **fields
    )


def _lost_worker(attempts: int, seconds: float = 3600) -> dict[str, Any]:
    """Fields of a run whose worker (on another host) last beat ``seconds`` ago."""
    return {
        "status": JobStatus.RUNNING, "attempts": attempts, "worker": "elsewhere:1",
        "heartbeat_at": timezone.now() - timedelta(seconds=seconds),
    }  # fmt: skip


# --- 1. a claim lost while the work ran -------------------------------------------------------------


@pytest.mark.django_db
class RunClaimLostTests:
    def test_it_keeps_a_taken_over_attempts_result_from_the_round(
        self, model_root: Path, library: FakeLibrary
    ) -> None:
        round_ = _reward_round(make_project())

        def taken_over() -> None:  # judged stale mid-work: another worker claimed the run (attempt 2)
            TrainingRun.objects.filter(round=round_).update(attempts=F("attempts") + 1, worker="other:2")

        library.during = taken_over
        assert round_step_run(round_id=round_.pk, state=RoundState.TRAINING_REWARD) == "waiting"
        round_.refresh_from_db()
        assert (round_.state, round_.reward_version) == (RoundState.TRAINING_REWARD, None)
        assert not ModelVersion.objects.filter(project=round_.project, kind="reward").exists()
        run = TrainingRun.objects.get(round=round_)
        assert (run.status, run.attempts, run.worker, run.result) == (JobStatus.RUNNING, 2, "other:2", {})

    def test_a_taken_over_attempts_error_does_not_fail_the_round(
        self, model_root: Path, library: FakeLibrary
    ) -> None:
        round_ = _reward_round(make_project())

        def taken_over_then_broken() -> None:  # e.g. the new attempt cleared the folder under it
            TrainingRun.objects.filter(round=round_).update(attempts=F("attempts") + 1, worker="other:2")
            raise FileNotFoundError("checkpoint/state.pt")

        library.during = taken_over_then_broken
        assert round_step_run(round_id=round_.pk, state=RoundState.TRAINING_REWARD) == "waiting"
        assert AlignmentRound.objects.get(pk=round_.pk).state == RoundState.TRAINING_REWARD
        run = TrainingRun.objects.get(round=round_)
        assert (run.status, run.attempts, run.error_message) == (JobStatus.RUNNING, 2, "")


def _bare_run() -> TrainingRun:
    project = make_project()
    round_ = AlignmentRound.objects.create(
        project=project, number=1, state=RoundState.TRAINING_REWARD, trigger="manual"
    )
    return _reward_run(round_)


def _beaten_since(run: Job, moment: Any) -> bool:
    beat = TrainingRun.objects.values_list("heartbeat_at", flat=True).get(pk=run.pk)
    return beat is not None and beat > moment


def _drop_other_connections() -> int:
    """Ends every other session on this test database: the heartbeat thread's, as a restart would."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        row = cursor.fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def database_closed(transactional_db: None) -> Iterator[Callable[[], None]]:
    """Call to refuse new sessions on the test database (this one stays); let in again at the end.

    On ``transactional_db``, so that it lets sessions in again while database access is still allowed.
    """
    name = connection.settings_dict["NAME"]

    def allow(allowed: bool) -> None:
        # From the maintenance database: PostgreSQL refuses this for the database one is connected to.
        with connection._nodb_cursor() as cursor:
            cursor.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allowed).lower()}')

    try:
        yield lambda: allow(False)
    finally:
        allow(True)


@pytest.mark.django_db(transaction=True)
class HeartbeatConnectionTests:
    @pytest.fixture(autouse=True)
    def postgresql(self) -> None:
        if connection.vendor != "postgresql":
            pytest.skip("the heartbeat thread runs on PostgreSQL only")

    def _claimed(self, settings: Any, stale: float) -> JobClaim:
        settings.CONCORD_JOB_HEARTBEAT_SECONDS = 0.1
        settings.CONCORD_JOB_STALE_SECONDS = stale
        claim = job_claim(kind=TRAINING_RUNS, job_id=_bare_run().pk)
        assert claim is not None
        return claim

    def test_it_connects_again_after_its_connection_was_dropped(self, settings: Any) -> None:
        claim = self._claimed(settings, stale=60)
        run = claim.job
        with claim:
            wait_for(lambda: _beaten_since(run, claim.job.heartbeat_at), timeout=10, what="the first beat")
            assert _drop_other_connections() >= 1
            dropped_at = timezone.now()
            wait_for(lambda: _beaten_since(run, dropped_at), timeout=10, what="a beat after the drop")
            claim.progress(1, 2)  # still this worker's
        assert claim.finish(status=JobStatus.SUCCEEDED) is True

    def test_it_counts_its_claim_lost_once_no_beat_was_written_for_the_stale_time(
        self, settings: Any, database_closed: Callable[[], None]
    ) -> None:
        claim = self._claimed(settings, stale=1)
        run = claim.job
        with claim:
            wait_for(lambda: _beaten_since(run, claim.job.heartbeat_at), timeout=10, what="the first beat")
            database_closed()
            _drop_other_connections()
            wait_for(lambda: claim.lost, timeout=10, what="the claim counted lost")
            with pytest.raises(JobLost):
                claim.progress(1, 2)


# --- 2. a run out of attempts -----------------------------------------------------------------------


@pytest.mark.django_db
class RunOutOfAttemptsTests:
    def test_the_reaped_run_fails_the_round_and_only_a_retry_starts_a_new_one(
        self, model_root: Path, library: FakeLibrary
    ) -> None:
        round_ = _reward_round(make_project())
        _reward_run(round_, **_lost_worker(attempts=3))
        assert job_reap(kinds=[TRAINING_RUNS]).failed == 1  # the last attempt's worker is gone too

        # The tick (or any delivery) sends the step again: it fails the round, it starts nothing.
        assert round_step_run(round_id=round_.pk, state=RoundState.TRAINING_REWARD) == "failed"
        failed = AlignmentRound.objects.get(pk=round_.pk)
        assert (failed.state, failed.failed_step) == (RoundState.FAILED, RoundState.TRAINING_REWARD)
        assert "the worker was lost on each of 3 attempts" in failed.error
        assert library.calls == 0 and TrainingRun.objects.filter(round=round_).count() == 1

        retried = round_retry(round_=failed)
        assert retried.state == RoundState.TRAINING_REWARD
        runs = TrainingRun.objects.filter(round=round_).order_by("pk")
        assert [(r.status, r.attempts) for r in runs] == [(JobStatus.FAILED, 3), (JobStatus.QUEUED, 0)]
        assert runs[1].out_dir == runs[0].out_dir  # the same folder: a PPO run resumes its checkpoint
        assert round_step_run(round_id=round_.pk, state=RoundState.TRAINING_REWARD) == "advanced"
        assert library.calls == 1
        assert [r.status for r in runs.all()] == [JobStatus.FAILED, JobStatus.SUCCEEDED]
        assert AlignmentRound.objects.get(pk=round_.pk).reward_version is not None


# --- 3. a lost step message re-sent; two deliveries writing one file ---------------------------------




@pytest.mark.celery
@pytest.mark.django_db
class StepResendTests:
    def _quiet_round(self, settings: Any) -> AlignmentRound:
        """A round at its reward step whose message went missing longer ago than the resend interval."""
        long_ago = timezone.now() - timedelta(seconds=settings.CONCORD_JOB_RESEND_SECONDS + 60)
        return AlignmentRound.objects.create(
            project=make_project(), number=1, state=RoundState.TRAINING_REWARD, trigger="manual",
            step_started_at=long_ago,
        )  # fmt: skip

    def test_it_sends_a_quiet_steps_message_once_per_interval(
        self, fault_cluster: FaultCluster, settings: Any
    ) -> None:
        round_ = self._quiet_round(settings)
        before = timezone.now()
        assert rounds_tick().resent == 1
        assert rounds_tick().resent == 0  # the next tick, with the first copy still in the queue
        assert queued_messages(fault_cluster, "training") == [("alignment.round_reward", f"({round_.pk},)")]
        sent_at = AlignmentRound.objects.get(pk=round_.pk).step_started_at
        assert sent_at is not None and sent_at >= before

    def test_it_tries_again_at_the_next_tick_when_the_broker_did_not_take_it(
        self, fault_cluster: FaultCluster, settings: Any
    ) -> None:
        round_ = self._quiet_round(settings)
        fault_cluster.redis.stop()
        assert rounds_tick().resent == 0
        # Still as quiet as before: the next tick picks it up again.
        assert AlignmentRound.objects.get(pk=round_.pk).step_started_at == round_.step_started_at


class _Interleaved(list[dict[str, Any]]):
    """Rows that let ``meanwhile`` (a second delivery writing the same file) run halfway through the first."""

    def __init__(self, rows: list[dict[str, Any]], meanwhile: Callable[[], object]) -> None:
        super().__init__(rows)
        self.meanwhile = meanwhile

    def __iter__(self) -> Iterator[dict[str, Any]]:
        rows = super().__iter__()
        yield next(rows)
        self.meanwhile()
        yield from rows


class RowsFileTests:
    def test_two_deliveries_writing_one_file_both_finish_and_leave_one_whole_file(
        self, tmp_path: Path
    ) -> None:
        path = tmp_path / "pairs.jsonl"
        jsonl_write(path, _Interleaved([{"n": 1}, {"n": 2}], lambda: jsonl_write(path, [{"n": 3}])))
        assert jsonl_read(path) == [{"n": 1}, {"n": 2}]  # the later replace won, whole
        assert [p.name for p in tmp_path.iterdir()] == ["pairs.jsonl"]

    def test_a_failed_write_keeps_the_old_file_and_leaves_no_staging_file(self, tmp_path: Path) -> None:
        path = jsonl_write(tmp_path / "pairs.jsonl", [{"n": 1}])
        with pytest.raises(TypeError):
            jsonl_write(path, [{"n": 2}, {"n": {3}}])  # a set: not JSON
        assert jsonl_read(path) == [{"n": 1}]
        assert [p.name for p in tmp_path.iterdir()] == ["pairs.jsonl"]


# --- 4. a cancelled round's orphan run --------------------------------------------------------------


@pytest.mark.django_db
class OrphanRunTests:
    def test_a_requeued_run_of_a_cancelled_round_is_failed_by_its_skipped_task(
        self, model_root: Path
    ) -> None:
        round_ = _reward_round(make_project())
        run = _reward_run(round_, **_lost_worker(attempts=1))
        assert job_reap(kinds=[TRAINING_RUNS]).requeued == 1  # queued again, its task sent again
        round_cancel(round_=round_)
        assert round_step_run(round_id=round_.pk, state=RoundState.TRAINING_REWARD) == "skipped"
        run.refresh_from_db()
        assert (run.status, run.error_message) == (JobStatus.FAILED, "the round is no longer in this step")
        TrainingRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(hours=1))
        assert job_reap(kinds=[TRAINING_RUNS]) == ReapResult()  # nothing left to send for ever

    def test_it_leaves_a_run_a_live_worker_holds_to_that_worker(self, model_root: Path) -> None:
        round_ = _reward_round(make_project())
        run = _reward_run(round_, **_lost_worker(attempts=1, seconds=1))  # beat a second ago
        round_cancel(round_=round_)
        assert round_step_run(round_id=round_.pk, state=RoundState.TRAINING_REWARD) == "skipped"
        run.refresh_from_db()
        assert (run.status, run.attempts, run.worker) == (JobStatus.RUNNING, 1, "elsewhere:1")


# --- 5. a diverged loss in a progress event ---------------------------------------------------------


@pytest.mark.django_db
class ProgressFiguresTests:
    def test_it_keeps_only_finite_figures_of_an_event(self, model_root: Path) -> None:
        run = _bare_run()
        seen: list[dict[str, Any]] = []

        def work(folder: Path, progress: RunProgress) -> dict[str, Any]:
            progress({"event": "start", "step": "reward", "total_steps": 2, "loss": float("nan")})
            seen.append(TrainingRun.objects.get(pk=run.pk).last_event)
            progress({"event": "end", "total_steps": float("nan"), "loss": float("inf"), "kl": -float("inf"),
                      "reward_mean": 0.5, "steps": 2})  # fmt: skip
            return {"metrics": {"loss": None}}

        result = run_step_in_claim(round_=run.round, step=RunStep.REWARD, config={}, work=work)
        assert result == {"metrics": {"loss": None}}
        assert seen == [{"event": "start", "step": "reward", "total_steps": 2}]
        run.refresh_from_db()
        assert run.status == JobStatus.SUCCEEDED
        assert run.last_event == {"event": "end", "reward_mean": 0.5, "steps": 2}


# --- 6. a refused start -----------------------------------------------------------------------------


@pytest.mark.django_db
class RoundStartPlanTests:
    def test_a_refused_start_leaves_no_new_plan(self) -> None:
        project = make_project()
        AlignmentRound.objects.create(project=project, number=1, state=RoundState.FAILED, trigger="manual")
        with pytest.raises(RoundNotStarted):
            round_start(project=project)
        assert not AlignmentPlan.objects.filter(project=project).exists()

    def test_a_first_start_makes_the_plan_with_its_defaults(self) -> None:
        project = make_project()
        round_ = round_start(project=project)
        plan = AlignmentPlan.objects.get(project=project)
        assert not plan.enabled and round_.plan["algorithm"] == plan.algorithm
