from __future__ import annotations

from pathlib import Path

import pytest

from alignment.training.config import EvaluateConfig
from tests.alignment.training.shared import step_config
from tests.alignment.training.test_ppo import PROMPTS, lowercase_share, ppo_config
from tests.alignment.training.test_reward import preference_set


@pytest.mark.slow
class EvaluateTests:
    def test_it_measures_reward_kl_win_rate_and_rm_accuracy(self, tmp_path: Path, tiny_policy: str) -> None:
        from alignment.training.evaluate import evaluate
        from alignment.training.ppo import train_ppo

        trained = train_ppo(
            ppo_config(max_steps=16, learning_rate=5e-3), PROMPTS, tmp_path / "ppo", reward_fn=lowercase_share
        )
        rows = PROMPTS[:32] + preference_set(16)
        config = step_config(
            EvaluateConfig,
            model_name=trained.policy_path,
            reference_model=tiny_policy,
            response_length=16,
            temperature=1.0,
        )
        result = evaluate(config, rows, tmp_path / "eval", reward_fn=lowercase_share)
        m = result.metrics
        assert result.prompts == 48 and result.pairs == 16
        assert m["reward_mean"] > m["reference_reward_mean"] + 0.05
        assert m["win_rate"] > 0.6
        assert m["kl"] > 0.5
        assert m["rm_accuracy"] == 1.0  # lowercase_share always prefers the lowercase (chosen) answer

        same = step_config(
            EvaluateConfig, model_name=tiny_policy, reference_model=tiny_policy, response_length=16
        )
        baseline = evaluate(same, PROMPTS[:16], tmp_path / "same", reward_fn=lowercase_share)
        assert baseline.metrics["kl"] == pytest.approx(0.0, abs=1e-5)

    def test_it_measures_the_win_rate_over_a_baseline_apart_from_the_reference(
        self, tmp_path: Path, tiny_policy: str, other_policy: str
    ) -> None:
        from alignment.training.evaluate import evaluate

        config = step_config(
            EvaluateConfig,
            model_name=tiny_policy,
            reference_model=tiny_policy,
            baseline_model=other_policy,  # random-init: it samples random bytes, few lowercase letters
            response_length=16,
            samples_per_prompt=2,
        )
        result = evaluate(config, PROMPTS[:32], tmp_path, reward_fn=lowercase_share)
        assert (result.prompts, result.comparisons) == (32, 64)  # two responses a prompt from each side
        m = result.metrics
        assert m["kl"] == pytest.approx(0.0, abs=1e-5)  # KL stays to the reference, the policy itself
        assert "reference_reward_mean" not in m
        assert m["reward_mean"] > m["baseline_reward_mean"] + 0.1
        assert 0.5 < m["win_rate_low"] < m["win_rate"] < m["win_rate_high"] <= 1.0
        assert 0 < m["response_length_mean"] <= 16


def test_wilson_interval_matches_the_formula() -> None:
    from alignment.training.evaluate import wilson_interval

    low, high = wilson_interval(8, 10)
    assert (low, high) == (pytest.approx(0.4902, abs=1e-4), pytest.approx(0.9433, abs=1e-4))
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == pytest.approx(1.0)
