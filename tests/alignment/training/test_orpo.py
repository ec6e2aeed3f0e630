from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from alignment.training.config import ORPOConfig
from tests.alignment.training.shared import step_config
from tests.alignment.training.test_kto import completion_logps
from tests.alignment.training.test_reward import preference_set


def log_odds_preference(model_path: str, pairs: list[dict[str, Any]]) -> float:
    """Mean over pairs of log odds(chosen) − log odds(rejected), odds p/(1−p) of the mean per-token
    probability of the response (ORPO's odds, Hong et al., 2024, Eq. 4)."""
    prompts = [pair["prompt"] for pair in pairs]
    chosen = completion_logps(model_path, prompts, [pair["chosen"] for pair in pairs])
    rejected = completion_logps(model_path, prompts, [pair["rejected"] for pair in pairs])

    def log_odds(total: float, tokens: int) -> float:
        mean = total / tokens
        return mean - math.log1p(-math.exp(mean))

    return sum(log_odds(*c) - log_odds(*r) for c, r in zip(chosen, rejected, strict=True)) / len(pairs)


@pytest.mark.slow
class ORPOTests:
    def test_it_lowers_the_loss_and_raises_the_log_odds_of_chosen_over_rejected(
        self, tmp_path: Path, tiny_policy: str
    ) -> None:
        from alignment.training.orpo import train_orpo

        config = step_config(ORPOConfig, per_device_train_batch_size=8, num_train_epochs=2, logging_steps=2)
        result = train_orpo(config, preference_set(64), tmp_path)
        losses = [h["loss"] for h in result.history if "loss" in h]
        assert len(losses) == 8 and losses[-1] < losses[0]
        fresh = preference_set(32, seed=7)
        before, after = (
            log_odds_preference(tiny_policy, fresh),
            log_odds_preference(result.policy_path, fresh),
        )
        assert after > before + 0.05
        assert (
            Path(result.policy_path) / "model.safetensors"
        ).exists()  # adapters merged, not an adapter folder
