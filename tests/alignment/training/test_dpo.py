from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from alignment.training.config import DPOConfig, load_config
from tests.alignment.training.test_reward import preference_set


@pytest.mark.slow
class DPOTests:
    def test_it_lowers_the_loss_and_widens_the_reward_margin(self, tmp_path: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM

        from alignment.training.dpo import train_dpo
        from alignment.training.tiny import tiny_path

        config = load_config(
            {
                "strategy": "dpo",
                "learning_rate": 1e-3,
                "per_device_train_batch_size": 8,
                "num_train_epochs": 1,
                "lora_r": 0,
                "logging_steps": 2,
            }
        )
        assert isinstance(config, DPOConfig)
        result = train_dpo(config, preference_set(64), tmp_path)
        steps = [h for h in result.history if "loss" in h and "rewards/margins" in h]
        assert steps[-1]["loss"] < steps[0]["loss"]
        assert steps[-1]["rewards/margins"] > steps[0]["rewards/margins"]
        before: Any = AutoModelForCausalLM.from_pretrained(tiny_path("concord/tiny"))
        after: Any = AutoModelForCausalLM.from_pretrained(result.policy_path)
        assert not torch.equal(before.transformer.wte.weight, after.transformer.wte.weight)
