"""A whole round, step by step in this process (no broker): what each step leaves on the round."""

from __future__ import annotations

from pathlib import Path

import pytest

from alignment.models import AlignmentRound, ModelVersion, RoundState, TrainingRun, VersionKind, VersionStatus
from alignment.services.rounds import round_start, round_step_run
from annotate.models import Choice, Comparison, JobStatus, Response, ResponseSource
from tests.alignment.rounds import TINY_REWARD, make_agreed_pairs, make_tiny_plan, vote_round
from tests.factories import make_project

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

ORDER = [
    RoundState.SNAPSHOTTING,
    RoundState.TRAINING_REWARD,
    RoundState.TRAINING_POLICY,
    RoundState.EVALUATING,
    RoundState.GENERATING,
]


class RoundStepTests:
    def test_it_runs_a_round_from_snapshot_to_done_with_its_lineage(self, model_root: Path) -> None:
        project = make_project()
        make_agreed_pairs(project, 40)
        make_tiny_plan(project)
        round_ = round_start(project=project)
        for state in ORDER:
            assert round_step_run(round_id=round_.pk, state=state) == "advanced", AlignmentRound.objects.get(
                pk=round_.pk
            ).error
        round_.refresh_from_db()
        assert round_.state == RoundState.COLLECTING
        assert round_step_run(round_id=round_.pk, state=RoundState.COLLECTING) == "waiting"

        policy, reward = round_.policy_version, round_.reward_version
        assert policy is not None and reward is not None
        assert (policy.kind, policy.number, reward.kind, reward.number) == (
            VersionKind.POLICY,
            1,
            VersionKind.REWARD,
            1,
        )
        assert (
            policy.parent is not None and policy.parent == round_.start_policy and policy.parent.number == 0
        )
        assert policy.snapshot == round_.snapshot and reward.snapshot == round_.snapshot
        assert policy.reward_model == reward and policy.round == round_
        assert (
            policy.reference
            and policy.config["strategy"] == "ppo"
            and set(policy.libraries) >= {"torch", "trl"}
        )
        assert (model_root / policy.path / "config.json").exists()
        assert policy.status in (VersionStatus.CHAMPION, VersionStatus.REJECTED) and policy.status_reason
        assert round_.metrics[RoundState.TRAINING_REWARD]["rm_accuracy"] is not None
        assert "kl" in round_.metrics[RoundState.EVALUATING]
        assert TrainingRun.objects.filter(round=round_, status=JobStatus.SUCCEEDED).count() == 4

        made = Comparison.objects.filter(project=project, batch=round_.batch)
        assert made.exists() and all(c.priority == 100 for c in made)
        sampled = Response.objects.filter(prompt__project=project, source=ResponseSource.MODEL)
        assert set(sampled.values_list("model_version__number", flat=True)) == {0, 1}

        # Every new-vs-previous comparison goes to the new policy's answer: the human win rate is 1.
        def new_wins(c: Comparison) -> str:
            a, b = c.response_a.model_version_id, c.response_b.model_version_id
            if {a, b} == {policy.pk, policy.parent_id}:
                return Choice.A if a == policy.pk else Choice.B
            return Choice.A

        vote_round(round_, new_wins)
        assert round_step_run(round_id=round_.pk, state=RoundState.COLLECTING) == "advanced"
        round_.refresh_from_db()
        human = round_.metrics[RoundState.COLLECTING]["human_win_rate"]
        assert round_.state == RoundState.DONE and human["rate"] == 1.0 and human["n"] >= 1
        assert set(round_.metrics[RoundState.COLLECTING]["ladder"]) == {"0", "1"}
        assert (
            ModelVersion.objects.filter(
                project=project, kind=VersionKind.POLICY, status=VersionStatus.CHAMPION
            ).count()
            == 1
        )


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
