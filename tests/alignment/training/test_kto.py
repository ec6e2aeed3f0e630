from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from alignment.training.config import KTOConfig
from tests.alignment.training.shared import step_config
from tests.alignment.training.test_reward import preference_set


def unpaired_set(pairs: int, both_bad: int, *, seed: int = 0) -> list[dict[str, Any]]:
    """What a snapshot with both-bad votes exports as KTO rows: each decided pair's chosen response is
    desirable and its rejected one undesirable (lowercase beats uppercase, as in `preference_set`), and
    both responses of a "both bad" comparison (two uppercase answers) are undesirable."""
    rows: list[dict[str, Any]] = []
    for pair in preference_set(pairs, seed=seed):
        rows.append({"prompt": pair["prompt"], "completion": pair["chosen"], "label": True})
        rows.append({"prompt": pair["prompt"], "completion": pair["rejected"], "label": False})
    rng = random.Random(seed + 1)
    for i in range(both_bad):
        for _ in range(2):
            text = "".join(rng.choice("ABCDEFGHIJ ") for _ in range(rng.randint(6, 14)))
            rows.append({"prompt": f"B{i}: ", "completion": text, "label": False})
    return rows


def completion_logps(model_path: str, prompts: list[str], completions: list[str]) -> list[tuple[float, int]]:
    """(sum of log-probabilities, token count) of each completion + EOS after its prompt, under the model."""
    import torch
    from transformers import AutoModelForCausalLM

    from alignment.training.models import load_tokenizer

    tokenizer = load_tokenizer(model_path)
    model: Any = AutoModelForCausalLM.from_pretrained(model_path).eval()
    out = []
    with torch.no_grad():
        for prompt, completion in zip(prompts, completions, strict=True):
            head = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            tail = tokenizer(completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
            ids = torch.tensor([head + tail])
            logps = torch.log_softmax(model(input_ids=ids).logits[0, :-1], dim=-1)
            picked = logps[torch.arange(len(head) - 1, ids.shape[1] - 1), ids[0, len(head) :]]
            out.append((float(picked.sum()), len(tail)))
    return out


class KTOWeightTests:
    def test_it_balances_the_weights_by_the_counts_as_the_paper_advises(self) -> None:
        from alignment.training.kto import balanced_weights

        for desirable, undesirable in ((48, 80), (80, 48), (1, 10), (64, 64)):
            d, u = balanced_weights(desirable=desirable, undesirable=undesirable)
            assert min(d, u) == 1.0  # the more numerous class keeps weight 1
            assert 1 - 1e-9 <= d * desirable / (u * undesirable) <= 4 / 3
        assert balanced_weights(desirable=48, undesirable=80) == pytest.approx((80 / 48, 1.0))
        assert balanced_weights(desirable=10, undesirable=20, desirable_weight=3.0) == (3.0, 1.5)
        assert balanced_weights(desirable=10, undesirable=20, undesirable_weight=2.0) == (4.0, 2.0)
        assert balanced_weights(
            desirable=10, undesirable=20, desirable_weight=1.0, undesirable_weight=1.0
        ) == (
            1.0,
            1.0,
        )
        assert balanced_weights(desirable=0, undesirable=20) == (1.0, 1.0)

    def test_it_reads_unpaired_rows_and_unpairs_pairs(self) -> None:
        from alignment.training.kto import unpaired_rows
        from alignment.training.rows import DataError

        rows = unpaired_rows(
            [
                {"prompt": [{"role": "user", "content": "hi"}], "completion": "yo", "label": True},
                {"prompt": "q", "completion": "no", "label": "False"},  # as a CSV file gives it
                {"prompt": "q", "chosen": "a", "rejected": "b"},
            ]
        )
        assert rows == [
            {"prompt": "user: hi\nassistant: ", "completion": "yo", "label": True},
            {"prompt": "q", "completion": "no", "label": False},
            {"prompt": "q", "completion": "a", "label": True},
            {"prompt": "q", "completion": "b", "label": False},
        ]
        with pytest.raises(DataError, match=r"^kto: row 1 has 'label' = 'maybe'; it must be true or false$"):
            unpaired_rows([{"prompt": "q", "completion": "a", "label": "maybe"}])
        with pytest.raises(DataError, match=r"^kto: row 1 has no 'completion'"):
            unpaired_rows([{"prompt": "q", "label": True}])


@pytest.mark.slow
class KTOTests:
    def test_it_lowers_the_loss_and_raises_desirable_over_undesirable_log_probabilities(
        self, tmp_path: Path, tiny_policy: str
    ) -> None:
        from alignment.training.kto import train_kto

        config = step_config(KTOConfig, per_device_train_batch_size=8, num_train_epochs=2, logging_steps=2)
        result = train_kto(config, unpaired_set(48, 16), tmp_path)
        assert (result.desirable_rows, result.undesirable_rows) == (48, 80)
        assert (result.desirable_weight, result.undesirable_weight) == pytest.approx((80 / 48, 1.0))
        losses = [h["loss"] for h in result.history if "loss" in h]
        assert len(losses) == 16 and sum(losses[-4:]) < sum(losses[:4])  # means of 4 batches: one is noisy

        # On fresh rows of the same kind: the policy moves towards desirable completions and away from
        # undesirable ones (per-token log-probability, after minus before).
        fresh = unpaired_set(24, 8, seed=7)
        prompts, completions = [r["prompt"] for r in fresh], [r["completion"] for r in fresh]
        before = completion_logps(tiny_policy, prompts, completions)
        after = completion_logps(result.policy_path, prompts, completions)
        gains = [(a - b) / n for (a, n), (b, _) in zip(after, before, strict=True)]
        desirable = [g for g, r in zip(gains, fresh, strict=True) if r["label"]]
        undesirable = [g for g, r in zip(gains, fresh, strict=True) if not r["label"]]
        assert sum(desirable) / len(desirable) > sum(undesirable) / len(undesirable) + 0.05


@pytest.mark.slow
class KTOReferenceModelTests:
    def test_it_measures_the_kl_and_rewards_against_the_reference_model(
        self, tmp_path: Path, other_policy: str
    ) -> None:
        from alignment.training.kto import train_kto

        def first_step(**keys: Any) -> dict[str, float]:
            config = step_config(
                KTOConfig,
                learning_rate=1e-9,
                per_device_train_batch_size=8,
                max_steps=1,
                logging_steps=1,
                **keys,
            )
            result = train_kto(config, unpaired_set(8, 8), tmp_path / str(len(keys)))
            return next(h for h in result.history if "loss" in h)

        # KTO's rewards are β·(log π − log π_ref) and its reference point a KL estimate to π_ref: both zero
        # when the reference is the start policy, and not when it is another model (a round's fixed base).
        own = first_step(lora_r=4)
        fixed = first_step(lora_r=4, reference_model=other_policy)
        assert abs(own["kl"]) < 1e-4 and abs(own["rewards/chosen"]) < 1e-4, own
        assert fixed["kl"] > 0.05 and abs(fixed["rewards/chosen"]) > 0.05, fixed
