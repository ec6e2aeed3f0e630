from __future__ import annotations

from pathlib import Path

import pytest

from alignment.training.config import RLOOConfig
from tests.alignment.training.shared import step_config
from tests.alignment.training.test_ppo import PROMPTS, lowercase_share


@pytest.mark.slow
class RLOOTests:
    def test_it_raises_the_reward(self, tmp_path: Path, random_policy: str) -> None:
        from alignment.training.rloo import train_rloo

        config = step_config(
            RLOOConfig,
            model_name=random_policy,
            learning_rate=3e-3,
            per_device_train_batch_size=16,
            max_steps=12,
            lora_r=0,
            logging_steps=1,
            num_generations=4,
            response_length=16,
            temperature=1.0,
        )
        result = train_rloo(config, PROMPTS, tmp_path, reward_fn=lowercase_share)
        rewards = [h["reward"] for h in result.history if "reward" in h]
        assert len(rewards) == 12
        assert sum(rewards[-4:]) / 4 > sum(rewards[:4]) / 4 + 0.03, rewards
        assert Path(result.policy_path, "config.json").exists()

    def test_it_measures_kl_to_the_reference_model(self, tmp_path: Path, other_policy: str) -> None:
        from alignment.training.rloo import train_rloo

        def first_kl(**keys: object) -> float:
            config = step_config(
                RLOOConfig,
                learning_rate=1e-9,
                per_device_train_batch_size=8,
                max_steps=1,
                logging_steps=1,
                num_generations=4,
                response_length=8,
                **keys,
            )
            result = train_rloo(config, PROMPTS[:8], tmp_path / str(len(keys)), reward_fn=lowercase_share)
            return float(next(h["kl"] for h in result.history if "kl" in h))

        # At the first step the policy is its start: KL 0 to itself (LoRA disabled or TRL's copy), not
        # to another model.
        assert abs(first_kl(lora_r=4)) < 1e-4
        assert first_kl(lora_r=4, reference_model=other_policy) > 0.5
        assert first_kl(lora_r=0, reference_model=other_policy) > 0.5
