"""Round steps run in this process (no broker): the policy step with each direct preference method.

The whole round on a worker is tests/alignment/test_round_worker.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from alignment.models import AlignmentRound, RoundState, TrainingRun
from alignment.services.rounds import round_start, round_step_run
from tests.alignment.rounds import TINY_REWARD, make_agreed_pairs, make_tiny_plan
from tests.factories import make_project

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

ORDER = [
    RoundState.SNAPSHOTTING,
    RoundState.TRAINING_REWARD,
    RoundState.TRAINING_POLICY,
    RoundState.EVALUATING,
    RoundState.GENERATING,
]


class PolicyAlgorithmTests:
    @pytest.mark.parametrize("algorithm", ["kto", "orpo"])
    def test_it_trains_the_rounds_policy_with_a_direct_preference_method(
        self, model_root: Path, algorithm: str
    ) -> None:
        project = make_project()
        make_agreed_pairs(project, 24)
        make_tiny_plan(
            project,
            algorithm=algorithm,
            reward_config={**TINY_REWARD, "max_steps": 2},
            policy_config={"max_steps": 2, "per_device_train_batch_size": 4, "max_seq_length": 128},
        )
        round_ = round_start(project=project)
        for state in ORDER[:3]:
            assert round_step_run(round_id=round_.pk, state=state) == "advanced", AlignmentRound.objects.get(
                pk=round_.pk
            ).error
        run = TrainingRun.objects.get(round=round_, step="policy")
        assert run.config["strategy"] == algorithm and "reward_model" not in run.config
        assert (
            model_root
            / round_.__class__.objects.get(pk=round_.pk).metrics["training_policy"]["policy_path"]
            / "config.json"
        ).exists()
