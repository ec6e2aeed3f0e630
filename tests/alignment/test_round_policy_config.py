"""The policy step's training config: a later round starts from the champion and keeps the plan's base as the
reference of the KL leash, whichever method the plan uses (ORPO has no reference at all)."""

from __future__ import annotations

import pytest

from alignment.models import AlignmentRound, RoundState, VersionKind
from alignment.services.rounds import round_start
from alignment.services.steps.training import policy_config
from alignment.services.versions import version_create
from tests.alignment.rounds import make_tiny_plan
from tests.factories import make_project

pytestmark = pytest.mark.django_db


class PolicyConfigTests:
    @pytest.mark.parametrize(
        ("algorithm", "leashed"),
        [("ppo", True), ("dpo", True), ("rloo", True), ("kto", True), ("orpo", False)],
    )
    def test_a_later_round_trains_from_the_champion_against_the_plans_base(
        self, algorithm: str, leashed: bool
    ) -> None:
        project = make_project()
        make_tiny_plan(project, algorithm=algorithm, policy_config={"max_steps": 2})
        first = round_start(project=project)  # its start policy is the base, v0
        base = first.start_policy
        assert base is not None
        AlignmentRound.objects.filter(pk=first.pk).update(state=RoundState.DONE)
        champion = version_create(
            project=project, kind=VersionKind.POLICY, champion=True, path="p/round-1/policy", parent=base
        )
        reward = version_create(
            project=project, kind=VersionKind.REWARD, champion=True, path="p/round-1/reward"
        )

        second = round_start(project=project)
        assert second.start_policy == champion
        second.reward_version = reward
        config = policy_config(second)
        assert (config["strategy"], config["model_name"]) == (algorithm, champion.location)
        assert config.get("reference_model") == (base.location if leashed else None)
        assert ("reward_model" in config) == (algorithm in ("ppo", "rloo"))
