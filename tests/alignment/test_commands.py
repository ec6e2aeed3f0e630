"""round_start and round_status: a round started from the shell, its state and progress printed, refusals as
a non-zero exit with the reason."""

from __future__ import annotations

import io
import re
import threading
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from alignment.models import AlignmentRound, RoundState, RunStep, TrainingRun
from annotate.models import JobStatus, Project
from tests.alignment.rounds import make_tiny_plan

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


class RoundStartCommandTests:
    def test_it_starts_a_pending_round(self, project: Project) -> None:
        make_tiny_plan(project)
        out = _run("round_start", "demo")
        round_ = AlignmentRound.objects.get(project=project)
        assert (round_.number, round_.state, round_.trigger) == (1, RoundState.PENDING, "manual")
        assert "demo: started round 1: pending (manual" in out

    def test_a_second_start_exits_non_zero_with_the_reason(self, project: Project) -> None:
        make_tiny_plan(project)
        _run("round_start", "demo")
        with pytest.raises(CommandError, match=r"no round started: round 1 is unfinished \(pending\)"):
            _run("round_start", "demo")
        assert AlignmentRound.objects.count() == 1

    def test_an_unknown_project_exits_non_zero(self, db: None) -> None:
        with pytest.raises(CommandError, match='no project with slug "nope"'):
            _run("round_start", "nope")

    def test_wait_gives_up_non_zero_after_its_timeout(self, project: Project) -> None:
        make_tiny_plan(project)  # no worker here: the round stays pending
        with pytest.raises(CommandError, match=r"round 1 is still pending after 0.2 s"):
            _run("round_start", "demo", "--wait", "--poll", "0.05", "--timeout", "0.2")

    @pytest.mark.django_db(transaction=True)
    def test_wait_shows_the_running_step_and_ends_non_zero_when_the_round_fails(
        self, project: Project, capsys: pytest.CaptureFixture[str]
    ) -> None:
        # Stands in for the worker: from another connection, the reward step runs, then fails.
        make_tiny_plan(project)

        class Output(io.StringIO):
            """The command's stdout, which the stand-in worker watches to move only once the wait has looked."""

            def until(self, text: str) -> None:
                deadline = time.monotonic() + 30
                while text not in self.getvalue() and time.monotonic() < deadline:
                    time.sleep(0.02)

        out = Output()

        def worker() -> None:
            try:
                out.until("round 1: pending")
                round_ = AlignmentRound.objects.get()
                TrainingRun.objects.create(
                    round=round_, step=RunStep.REWARD, status=JobStatus.RUNNING, attempts=1, total=6, processed=3,
                    last_event={"loss": 0.6}, out_dir="demo/round-1/reward",
                )  # fmt: skip
                AlignmentRound.objects.filter(pk=round_.pk).update(state=RoundState.TRAINING_REWARD)
                out.until("round 1: training the reward model")
                AlignmentRound.objects.filter(pk=round_.pk).update(
                    state=RoundState.FAILED, failed_step=RoundState.TRAINING_REWARD, error="OSError: gone"
                )
            finally:
                connection.close()

        thread = threading.Thread(target=worker)
        thread.start()
        try:
            with pytest.raises(CommandError, match="round 1 failed at training_reward: OSError: gone"):
                call_command("round_start", "demo", "--wait", "--poll", "0.05", "--timeout", "30", stdout=out)
        finally:
            thread.join()
        assert "reward run" in capsys.readouterr().err  # the progress bar


class RoundStatusCommandTests:
    def test_it_says_why_no_round_has_started(self, project: Project) -> None:
        out = _run("round_status", "demo")
        assert out.splitlines() == [
            "demo: next round not started: the plan is paused",
            "no rounds yet; start one with `manage.py round_start`",
        ]
        make_tiny_plan(project, enabled=True, min_new_pairs=500)
        assert (
            _run("round_status", "demo").splitlines()[0]
            == "demo: next round not started: 0 of 500 new agreed pairs"
        )

    def test_it_shows_each_round_and_the_running_steps_progress(self, project: Project) -> None:
        make_tiny_plan(project, enabled=True)
        _run("round_start", "demo")
        round_ = AlignmentRound.objects.get()
        AlignmentRound.objects.filter(pk=round_.pk).update(state=RoundState.TRAINING_POLICY)
        run = TrainingRun.objects.create(
            round=round_, step=RunStep.POLICY, status=JobStatus.RUNNING, attempts=1, total=4, processed=1,
            last_event={"kl": 0.0123, "loss": 0.5}, out_dir="demo/round-1/policy",
        )  # fmt: skip
        lines = _run("round_status", "demo").splitlines()
        assert lines[0] == "demo: next round not started: round 1 is training the policy"
        assert lines[1].startswith("round 1: training_policy (manual, started ")
        assert lines[2].startswith(f"  policy run {run.pk}: running, attempt 1/")
        # As the round's page says it: a running run that has never beaten is stale.
        assert "1/4 (25%), heartbeat never (stale), kl=0.0123, loss=0.5" in lines[2]
        now = timezone.now()
        TrainingRun.objects.filter(pk=run.pk).update(
            heartbeat_at=now - timedelta(seconds=2), started_at=now - timedelta(seconds=10)
        )
        line = _run("round_status", "demo").splitlines()[2]
        # One step of four in 10 s: three more take about 30 s.
        assert re.search(r"1/4 \(25%\), heartbeat [23] s ago, ETA 3\d s, kl=0\.0123, loss=0\.5$", line), line

    def test_it_shows_why_a_round_failed(self, project: Project) -> None:
        make_tiny_plan(project)
        _run("round_start", "demo")
        AlignmentRound.objects.update(
            state=RoundState.FAILED, failed_step=RoundState.TRAINING_REWARD, error="OSError: no such model"
        )
        assert "; failed at training_reward: OSError: no such model" in _run("round_status", "demo")
