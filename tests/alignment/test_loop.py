"""The loop end to end: a round through a real worker, its comparisons voted by simulated annotators over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from alignment.models import AlignmentRound, RoundState
from alignment.services.rounds import rounds_tick
from alignment.simulated_crowd import Crowd, crowd_accounts, crowd_draw, load_oracle
from alignment.stats import wilson
from annotate.models import Choice, Comparison, Judgment, ResponseSource
from tests.alignment.rounds import make_agreed_pairs, make_tiny_plan
from tests.factories import make_project
from tests.worker import CeleryWorker, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.celery]
ORACLE = str(Path(__file__).resolve().parents[2] / "bench" / "oracles.py") + ":lowercase"


def _state(round_id: int) -> Any:
    round_ = AlignmentRound.objects.get(pk=round_id)
    return round_ if round_.state in (RoundState.COLLECTING, RoundState.DONE, RoundState.FAILED) else None


class SimulatedLoopTests:
    def test_it_runs_a_round_whose_new_comparisons_the_crowd_votes_on(
        self, transactional_db: None, celery_worker_process: CeleryWorker, live_server: Any
    ) -> None:
        project = make_project(overlap_target=1)
        make_agreed_pairs(project, 30)
        make_tiny_plan(project, enabled=True, min_new_pairs=20)
        assert rounds_tick().started == 1  # the plan's own trigger
        round_ = AlignmentRound.objects.get(project=project)
        reached = wait_for(lambda: _state(round_.pk), timeout=400, what="the round to reach collecting")
        assert reached.state == RoundState.COLLECTING, (reached.error, celery_worker_process.log_tail())

        annotators = crowd_draw(4, spammer_share=0.0, seed=1)
        crowd_accounts(project=project, annotators=annotators)
        host, port = live_server.url.removeprefix("http://").split(":")
        crowd = Crowd(annotators, load_oracle(ORACLE), slug=project.slug, host=host, port=int(port))
        crowd.start()
        made = Comparison.objects.filter(project=project, batch=round_.batch)
        try:
            wait_for(lambda: not made.filter(status="open").exists(), timeout=120, what="the crowd's votes")
        finally:
            crowd.close()
        assert not crowd.errors
        rounds_tick()  # sends the collect step to the worker
        done = wait_for(
            lambda: AlignmentRound.objects.filter(pk=round_.pk, state=RoundState.DONE).first(),
            timeout=60,
            what="done",
        )

        # The new comparisons hold the new policy's answers and carry the crowd's votes.
        new = done.policy_version
        assert new is not None and done.start_policy is not None
        sampled = {c.response_a.model_version_id for c in made} | {
            c.response_b.model_version_id for c in made
        }
        assert new.pk in sampled and all(c.response_a.source == ResponseSource.MODEL for c in made)
        assert Judgment.objects.filter(comparison__in=made).count() == made.count() == crowd.stats.votes

        # The recorded human win rate is the votes' own: new-vs-previous comparisons won by the new policy.
        wins = n = 0.0
        for c in made.select_related("response_a", "response_b"):
            if {c.response_a.model_version_id, c.response_b.model_version_id} != {
                new.pk,
                done.start_policy_id,
            }:
                continue
            n += 1
            if c.winner == Choice.TIE:
                wins += 0.5
            elif c.winner in (Choice.A, Choice.B):
                winner = c.response_a if c.winner == Choice.A else c.response_b
                wins += winner.model_version_id == new.pk
        recorded = done.metrics[RoundState.COLLECTING]["human_win_rate"]
        assert recorded == wilson(wins, int(n)).as_dict() and recorded["n"] == n > 0
