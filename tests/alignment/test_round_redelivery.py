"""A step's message delivered again after its work was written but before the round moved on (the worker
died in between; Celery's acks_late redelivers it), a snapshot step retried after too few pairs, the gate
beside a champion made by hand, and an outcome that cannot be recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alignment.models import (
    AlignmentRound,
    ModelVersion,
    RoundState,
    RunStep,
    TrainingRun,
    VersionKind,
    VersionStatus,
)
from alignment.services.rounds import round_retry, round_start, round_step_run
from alignment.services.steps.candidates import generate_step, round_prompts
from alignment.services.steps.folder import MIN_PAIRS
from annotate.models import Comparison, JobStatus, Project
from tests.alignment.pages import make_version
from tests.alignment.rounds import make_agreed_pairs, make_tiny_plan

pytestmark = pytest.mark.django_db


def _generating_round(project: Project, tmp_path: Path) -> AlignmentRound:
    """Round 1 at its generate step, whose run has succeeded: the samples of the prompts it picked."""
    make_agreed_pairs(project, 30)
    make_tiny_plan(project, prompts_per_round=4, candidates_per_prompt=2)
    round_ = round_start(project=project)
    base = ModelVersion.objects.get(project=project, kind=VersionKind.POLICY, number=0)  # round_start made it
    reward = make_version(project, 1, kind=VersionKind.REWARD, status=VersionStatus.CHAMPION)
    policy = make_version(project, 1, parent=base, status=VersionStatus.CANDIDATE, reward_model=reward)
    AlignmentRound.objects.filter(pk=round_.pk).update(
        state=RoundState.GENERATING, start_policy=base, reward_version=reward, policy_version=policy
    )
    round_.refresh_from_db()
    result = {}
    for name, n in (("new", 2), ("start", 1)):
        path = tmp_path / f"{name}.jsonl"
        lines = [
            {"prompt": p.turns, "responses": [f"{name} {i} for {p.pk}" for i in range(n)], "scores": [0.1, 0.9][:n]}
            for p in round_prompts(round_)
        ]
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))
        result[name] = {"output_path": str(path), "metrics": {"reward_mean": 0.5}}
    TrainingRun.objects.create(
        round=round_, step=RunStep.GENERATE, status=JobStatus.SUCCEEDED, result=result, out_dir="r1/generate"
    )
    return round_


class GenerateRedeliveryTests:
    def test_a_second_delivery_writes_each_sample_on_its_own_prompt_and_nothing_twice(
        self, project: Project, tmp_path: Path
    ) -> None:
        round_ = _generating_round(project, tmp_path)
        generate_step(round_)  # the first delivery wrote its comparisons, then its worker died
        first = set(Comparison.objects.filter(batch=round_.batch).values_list("pk", flat=True))
        assert len(first) == 8  # new vs previous and best vs worst on each of 4 prompts
        assert round_step_run(round_id=round_.pk, state=RoundState.GENERATING) == "advanced"
        made = Comparison.objects.filter(batch=round_.batch).select_related("response_a", "response_b")
        assert set(made.values_list("pk", flat=True)) == first
        for comparison in made:
            for response in (comparison.response_a, comparison.response_b):
                assert response.prompt_id == comparison.prompt_id
                assert response.text.endswith(f"for {comparison.prompt_id}")


class SnapshotRetryTests:
    def test_a_retry_after_too_few_pairs_takes_a_new_snapshot(self, project: Project) -> None:
        make_agreed_pairs(project, MIN_PAIRS - 3)
        make_tiny_plan(project)
        round_ = round_start(project=project)
        assert round_step_run(round_id=round_.pk, state=RoundState.SNAPSHOTTING) == "failed"
        round_.refresh_from_db()
        assert round_.state == RoundState.FAILED and f"at least {MIN_PAIRS}" in round_.error
        assert round_.snapshot_id is None
        make_agreed_pairs(project, 10, seed=5)
        round_retry(round_=round_)
        assert round_step_run(round_id=round_.pk, state=RoundState.SNAPSHOTTING) == "advanced"
        round_.refresh_from_db()
        assert round_.snapshot is not None and round_.snapshot.counts["pairs"] >= MIN_PAIRS


class PromotionTests:
    def test_a_champion_made_by_hand_during_the_round_is_not_replaced_by_one_never_compared_with_it(
        self, project: Project
    ) -> None:
        from alignment.services.versions import version_promote

        make_agreed_pairs(project, 30)
        make_tiny_plan(project, heldout_share=0.5)
        round_ = round_start(project=project)
        base = ModelVersion.objects.get(project=project, kind=VersionKind.POLICY, number=0)
        reward = make_version(project, 1, kind=VersionKind.REWARD, status=VersionStatus.CHAMPION)
        other = make_version(project, 1, parent=base, status=VersionStatus.CANDIDATE)
        AlignmentRound.objects.filter(pk=round_.pk).update(
            state=RoundState.EVALUATING, start_policy=base, reward_version=reward,
            metrics={RoundState.TRAINING_POLICY: {"policy_path": "demo/round-1/policy"}},
        )  # fmt: skip
        # The evaluation passed the gate against v0 (the run's stored result) ...
        TrainingRun.objects.create(
            round=round_, step=RunStep.EVALUATE, status=JobStatus.SUCCEEDED, out_dir="r1/evaluate",
            result={"metrics": {"win_rate": 0.9, "kl": 0.5, "reward_mean": 1.0}, "comparisons": 64},
        )  # fmt: skip
        version_promote(version=other, reason="promoted by hand")  # ... while a person chose v1
        assert round_step_run(round_id=round_.pk, state=RoundState.EVALUATING) == "advanced"
        round_.refresh_from_db()
        new = round_.policy_version
        assert new is not None and new.number == 2 and new.status == VersionStatus.CANDIDATE
        assert "policy v1 was made champion during the round" in new.status_reason
        assert ModelVersion.objects.get(pk=other.pk).status == VersionStatus.CHAMPION
        assert round_.metrics[RoundState.EVALUATING]["promoted"] is False


class OutcomeRecordFailureTests:
    def test_a_step_whose_outcome_cannot_be_recorded_fails_the_round_with_the_cause(
        self, project: Project, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from alignment.services import steps
        from alignment.services.rounds import StepOutcome

        make_agreed_pairs(project, 12)
        make_tiny_plan(project)
        round_ = round_start(project=project)

        def refused(locked: AlignmentRound) -> None:
            raise ValueError("the database refused the version")

        # A step whose work is done, and whose outcome cannot be recorded.
        outcome = StepOutcome(metrics={}, apply=refused)
        monkeypatch.setitem(steps.STEP_WORK, RoundState.SNAPSHOTTING, lambda r: outcome)
        assert round_step_run(round_id=round_.pk, state=RoundState.SNAPSHOTTING) == "failed"
        round_.refresh_from_db()
        assert (round_.state, round_.failed_step) == (RoundState.FAILED, RoundState.SNAPSHOTTING)
        assert round_.error == "ValueError: the database refused the version"
