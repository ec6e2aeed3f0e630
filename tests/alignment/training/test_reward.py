from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from alignment.training.config import RewardConfig, load_config
from tests.alignment.training.shared import write_jsonl


def preference_set(n: int, *, seed: int = 0, by_length: bool = False) -> list[dict[str, Any]]:
    """A learnable synthetic preference set: lowercase answers beat uppercase ones of the same length
    (or, with by_length, longer answers beat shorter ones of the same alphabet)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        length = rng.randint(6, 14)
        if by_length:
            chosen = "".join(rng.choice("abcdefghij ") for _ in range(length + 8))
            rejected = "".join(rng.choice("abcdefghij ") for _ in range(length))
        else:
            chosen = "".join(rng.choice("abcdefghij ") for _ in range(length))
            rejected = "".join(rng.choice("ABCDEFGHIJ ") for _ in range(length))
        rows.append({"prompt": f"Q{i}: ", "chosen": chosen, "rejected": rejected})
    return rows


def reward_config(**raw: Any) -> RewardConfig:
    config = load_config(
        {
            "strategy": "reward",
            "learning_rate": 1e-3,
            "per_device_train_batch_size": 16,
            "num_train_epochs": 2,
            "eval_split": 0.2,
            "logging_steps": 2,
            **raw,
        }
    )
    assert isinstance(config, RewardConfig)
    return config


@pytest.mark.slow
class RewardTests:
    def test_it_reaches_95_percent_held_out_accuracy_on_a_learnable_set(self, tmp_path: Path) -> None:
        from alignment.training.reward import train_reward

        events: list[dict[str, Any]] = []
        result = train_reward(reward_config(), preference_set(240), tmp_path, progress=events.append)
        assert result.eval_pairs == 48 and result.train_pairs == 192
        assert result.metrics["eval_accuracy"] >= 0.95
        losses = [h["loss"] for h in result.history if "loss" in h]
        assert losses[-1] < losses[0]
        saved = json.loads((Path(result.model_path) / "concord_reward.json").read_text())
        assert saved == result.calibration and saved["length_coef"] == 0.0
        assert json.loads((tmp_path / "result.json").read_text())["metrics"] == result.metrics
        assert events[0]["event"] == "start" and events[-1]["event"] == "end"

        # The saved model scores through the calibration: mean 0, std 1 on the training responses.
        from alignment.training.scoring import load_reward

        reward = load_reward(result.model_path)
        rows = preference_set(240)[:64]
        scores = reward(
            [r["prompt"] for r in rows] * 2, [r["chosen"] for r in rows] + [r["rejected"] for r in rows]
        )
        assert abs(float(scores.mean())) < 0.3 and 0.7 < float(scores.std()) < 1.3

        # The library's accuracy of a saved reward model on new pairs, given by path or as rows.
        from alignment.training.reward import reward_accuracy

        new_pairs = preference_set(64, seed=5)
        accuracy = reward_accuracy(result.model_path, write_jsonl(tmp_path / "new.jsonl", new_pairs))
        assert accuracy >= 0.95
        assert reward_accuracy(result.model_path, new_pairs, max_length=64) == accuracy
        flipped = [{**r, "chosen": r["rejected"], "rejected": r["chosen"]} for r in new_pairs]
        assert reward_accuracy(result.model_path, flipped) <= 0.05

    def test_it_centres_rewards_on_zero_when_asked(self, tmp_path: Path, tiny_reward: str) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from alignment.training.reward import train_reward
        from alignment.training.scoring import load_reward

        # A start that scores every text about +3.2: a constant score head (0.05 per feature) over the final
        # layer norm's output, whose normalised part sums to 0 and whose shift is set to 1. The pairwise loss
        # cannot see a shift that chosen and rejected share, so only the centring term pulls it back.
        start = tmp_path / "shifted"
        model = AutoModelForSequenceClassification.from_pretrained(tiny_reward)
        with torch.no_grad():
            model.transformer.ln_f.bias.fill_(1.0)
            model.score.weight.fill_(0.05)
        model.save_pretrained(start)
        AutoTokenizer.from_pretrained(tiny_reward).save_pretrained(start)
        rows = preference_set(64)
        prompts = [r["prompt"] for r in rows] * 2
        responses = [r["chosen"] for r in rows] + [r["rejected"] for r in rows]

        def mean_reward(coefficient: float | None) -> float:
            config = reward_config(
                model_name=str(start),
                learning_rate=1e-2,
                eval_split=0.0,
                # Uncalibrated scores: the calibration would centre both models' scores itself.
                normalize=False,
                center_rewards_coefficient=coefficient,
            )
            result = train_reward(config, rows, tmp_path / f"centred-{coefficient}")
            assert result.metrics["train_accuracy"] >= 0.9  # centring must not cost the ranking
            return float(load_reward(result.model_path)(prompts, responses).mean())

        plain, centred = mean_reward(None), mean_reward(0.01)
        assert plain > 2.0, plain
        assert abs(centred) < 0.5 * abs(plain), (centred, plain)

    def test_it_removes_length_bias_when_asked(self, tmp_path: Path) -> None:
        import torch

        from alignment.training.reward import train_reward
        from alignment.training.scoring import load_reward

        rows = preference_set(96, by_length=True)
        result = train_reward(
            reward_config(length_normalization=True, eval_split=0.0, num_train_epochs=1), rows, tmp_path
        )
        assert result.calibration["length_coef"] != 0.0
        reward = load_reward(result.model_path)
        prompts = [r["prompt"] for r in rows] * 2
        responses = [r["chosen"] for r in rows] + [r["rejected"] for r in rows]
        lengths = torch.tensor([float(len(r)) for r in responses])
        raw = reward.scorers[0].raw(prompts, responses)  # type: ignore[attr-defined]
        calibrated = reward(prompts, responses)

        def corr(a: Any, b: Any) -> float:
            return float(torch.corrcoef(torch.stack([a, b]))[0, 1])

        assert corr(raw, lengths) > 0.3
        assert abs(corr(calibrated, lengths)) < 0.05


class CombinedRewardTests:
    def test_it_combines_reward_models_with_weights(self, tiny_reward: str, tmp_path: Path) -> None:
        import shutil

        import torch

        from alignment.training.scoring import load_reward

        # A second "safety" model: the same network with a calibration that shifts and scales its scores.
        safety = tmp_path / "safety"
        shutil.copytree(tiny_reward, safety)
        (safety / "concord_reward.json").write_text(
            json.dumps({"gain": 2.0, "bias": 1.0, "length_coef": 0.0})
        )
        prompts, responses = ["a", "b", "c"], ["hello", "HELLO", "x"]
        quality = load_reward(tiny_reward)(prompts, responses)
        combined = load_reward([tiny_reward, str(safety)], [0.7, 0.3])
        total, parts = combined.score_parts(prompts, responses)
        assert torch.allclose(parts[1], 2.0 * quality + 1.0)
        assert torch.allclose(total, 0.7 * quality + 0.3 * (2.0 * quality + 1.0))


class RewardIdsTests:
    def test_it_keeps_a_pair_longer_than_the_model_by_cutting_the_prompts_start(
        self, tiny_policy: str
    ) -> None:
        from alignment.training.models import load_tokenizer
        from alignment.training.reward import preference_rows, tokenized_pairs
        from tests.alignment.training.export_shaped import export_shaped_pairs

        tokenizer = load_tokenizer(tiny_policy)
        (row,) = preference_rows(export_shaped_pairs(1, conversational=True))
        assert len(row["prompt"]) + len(row["chosen"]) > 256  # longer than the tiny model's positions
        (pair,) = tokenized_pairs(tokenizer, [row], 256)
        chosen = pair["chosen_ids"]
        assert len(chosen) == 256 and chosen[-1] == tokenizer.eos_token_id
        assert tokenizer.decode(chosen[:-1]).endswith(row["chosen"][-100:])
