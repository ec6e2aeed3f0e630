from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from alignment.training.config import DPOConfig
from tests.alignment.training.shared import step_config
from tests.alignment.training.test_reward import preference_set


@pytest.mark.slow
class DPOTests:
    def test_it_lowers_the_loss_and_widens_the_reward_margin(self, tmp_path: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM

        from alignment.training.dpo import train_dpo
        from alignment.training.tiny import tiny_path

        config = step_config(
            DPOConfig,
            learning_rate=1e-3,
            per_device_train_batch_size=8,
            num_train_epochs=1,
            lora_r=0,
            logging_steps=2,
        )
        result = train_dpo(config, preference_set(64), tmp_path)
        steps = [h for h in result.history if "loss" in h and "rewards/margins" in h]
        assert steps[-1]["loss"] < steps[0]["loss"]
        assert steps[-1]["rewards/margins"] > steps[0]["rewards/margins"]
        before: Any = AutoModelForCausalLM.from_pretrained(tiny_path("concord/tiny"))
        after: Any = AutoModelForCausalLM.from_pretrained(result.policy_path)
        assert not torch.equal(before.transformer.wte.weight, after.transformer.wte.weight)


class DPOTruncationTests:
    def test_it_keeps_the_end_of_a_long_prompt_within_half_the_budget(self, tiny_policy: str) -> None:
        from alignment.training.dpo import truncated_pair
        from alignment.training.models import load_tokenizer
        from alignment.training.reward import preference_rows
        from tests.alignment.training.export_shaped import export_shaped_pairs

        tokenizer = load_tokenizer(tiny_policy)
        rows = [r for r in preference_rows(export_shaped_pairs(20)) if len(r["prompt"]) > 128]
        assert rows
        for row in rows:
            cut = truncated_pair(tokenizer, row, 256)
            assert row["prompt"].endswith(cut["prompt"]) and cut["prompt"].endswith("assistant: ")
            assert len(tokenizer(cut["prompt"], add_special_tokens=False)["input_ids"]) == 128
            assert (cut["chosen"], cut["rejected"]) == (row["chosen"], row["rejected"])


@pytest.mark.slow
class DPOReferenceModelTests:
    def test_it_measures_rewards_against_the_reference_model(self, tmp_path: Path, other_policy: str) -> None:
        from alignment.training.dpo import train_dpo

        def first_step(**keys: Any) -> dict[str, float]:
            config = step_config(
                DPOConfig,
                learning_rate=1e-9,
                per_device_train_batch_size=8,
                max_steps=1,
                logging_steps=1,
                **keys,
            )
            result = train_dpo(config, preference_set(8), tmp_path / str(len(keys)))
            return next(h for h in result.history if "loss" in h)

        # DPO's implicit rewards are β·(log π − log π_ref): zero when the reference is the start policy,
        # and not when it is another model.
        own = first_step(lora_r=4)
        fixed = first_step(lora_r=4, reference_model=other_policy)
        assert own["loss"] == pytest.approx(0.6931, abs=1e-3) and abs(own["rewards/chosen"]) < 1e-4
        assert abs(fixed["rewards/chosen"]) > 0.05, fixed
