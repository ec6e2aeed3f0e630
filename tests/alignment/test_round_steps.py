"""Round steps run in this process (no broker): the policy step with each direct preference method.

The whole round on a worker is tests/alignment/test_round_worker.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from alignment.models import AlignmentRound, RoundState, TrainingRun
from alignment.services.rounds import round_start, round_step_run
from tests.alignment.rounds import TINY_REWARD, make_agreed_pairs, make_both_bad, make_tiny_plan
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


class KTOFromSnapshotTests:
    def test_it_trains_kto_on_a_snapshot_that_keeps_both_bad_votes(self, model_root: Path) -> None:
        from alignment.training.rows import prompt_text
        from alignment.training.tiny import tiny_path
        from tests.alignment.training.test_kto import completion_logps

        project = make_project()
        make_agreed_pairs(project, 24)
        both_bad = make_both_bad(project, 8)
        make_tiny_plan(
            project,
            algorithm="kto",
            snapshot_filters={"keep_unpaired": True, "drop_ties": False},
            reward_config={**TINY_REWARD, "max_steps": 2},
            policy_config={
                "num_train_epochs": 2,
                "per_device_train_batch_size": 8,
                "logging_steps": 2,
                "max_seq_length": 128,
            },
        )
        round_ = round_start(project=project)
        for state in ORDER[:3]:
            assert round_step_run(round_id=round_.pk, state=state) == "advanced", AlignmentRound.objects.get(
                pk=round_.pk
            ).error
        round_.refresh_from_db()
        assert round_.metrics["snapshotting"]["unpaired_rows"] == 2 * 24 + 2 * 8
        result = TrainingRun.objects.get(round=round_, step="policy").result
        # Both answers of every both-bad comparison are undesirable examples, beside each pair's rejected one.
        assert (result["desirable_rows"], result["undesirable_rows"]) == (24, 24 + 2 * 8)
        losses = [h["loss"] for h in result["history"] if "loss" in h]
        assert sum(losses[-2:]) < sum(losses[:2])
        # The policy moved towards what the votes called desirable and away from the both-bad answers.
        policy = str(model_root / round_.metrics["training_policy"]["policy_path"])
        bad = [
            (prompt_text(c.prompt.turns), text)
            for c in both_bad
            for text in (c.response_a.text, c.response_b.text)
        ]
        before = completion_logps(str(tiny_path("concord/tiny")), [p for p, _ in bad], [t for _, t in bad])
        after = completion_logps(policy, [p for p, _ in bad], [t for _, t in bad])
        assert sum(a / n for a, n in after) < sum(b / n for b, n in before)
