from __future__ import annotations

from pathlib import Path

import pytest

from alignment.training.config import SFTConfig
from tests.alignment.training.shared import step_config
from tests.alignment.training.test_reward import preference_set


@pytest.mark.slow
class SFTTests:
    def test_it_lowers_the_loss_on_demonstrations(self, tmp_path: Path) -> None:
        from alignment.training.sft import train_sft

        config = step_config(
            SFTConfig,
            learning_rate=1e-2,
            per_device_train_batch_size=8,
            num_train_epochs=3,
            lora_r=8,
            lora_alpha=16,
            logging_steps=2,
        )
        demos = [{"prompt": r["prompt"], "completion": r["chosen"]} for r in preference_set(64)]
        result = train_sft(config, demos, tmp_path)
        # LoRA on a random-init model moves slowly (its small tied embeddings bound the logits); 0.15 nats is
        # well clear of noise for a fixed seed.
        assert result.metrics["loss_last"] < result.metrics["loss_first"] - 0.15
        assert Path(result.policy_path, "config.json").exists()  # adapters merged into a plain model
