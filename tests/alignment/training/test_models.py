from __future__ import annotations

from pathlib import Path

import pytest

from alignment.training.config import ConfigError, PPOConfig, load_config


def ppo(**raw: object) -> PPOConfig:
    config = load_config({"strategy": "ppo", **raw})
    assert isinstance(config, PPOConfig)
    return config


class TinyModelTests:
    def test_it_builds_and_reloads_the_builtin_models_by_path(
        self, tiny_policy: str, tiny_reward: str
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(tiny_policy)
        assert type(tokenizer).__name__ == "ByT5Tokenizer"
        policy = AutoModelForCausalLM.from_pretrained(tiny_policy)
        reward = AutoModelForSequenceClassification.from_pretrained(tiny_reward)
        shape = policy.config
        assert (shape.vocab_size, shape.n_layer, shape.n_embd, shape.n_head, shape.n_positions) == (
            384,
            2,
            64,
            4,
            256,
        )
        assert reward.config.num_labels == 1 and reward.config.pad_token_id == tokenizer.pad_token_id
        ids = torch.tensor([tokenizer("hi")["input_ids"]])
        assert policy(input_ids=ids).logits.shape == (1, ids.shape[1], 384)

    def test_it_loads_a_4bit_lora_policy_that_trains_on_cpu(self, tiny_policy: str) -> None:
        import torch

        from alignment.training.models import load_policy

        model, tokenizer = load_policy(ppo(use_4bit=True, lora_r=4, lora_alpha=8))
        assert type(model.base_model.model.transformer.h[0].attn.c_attn.base_layer).__name__ == "Linear4bit"
        ids = torch.tensor([tokenizer("hello world")["input_ids"]])
        model(input_ids=ids, labels=ids).loss.backward()
        grads = [p.grad for n, p in model.named_parameters() if "lora_B" in n]
        assert grads and all(g is not None for g in grads)
        assert any(float(g.abs().sum()) > 0 for g in grads)


class MemoryTests:
    def test_it_counts_weights_lora_optimizer_activations_and_ppo_models(self) -> None:
        from alignment.training.memory import estimate_memory

        estimate = estimate_memory(ppo(lora_r=8))
        assert {
            "weights",
            "lora adapters",
            "optimizer (Adam)",
            "activations",
            "generation KV cache",
            "reward model(s)",
        } <= set(estimate.parts)
        assert "reference model" not in estimate.parts  # adapters disabled, not a second copy
        assert 140_000 < estimate.params < 142_000  # the tiny model has 141,056
        full = estimate_memory(ppo(lora_r=0))
        assert full.parts["reference model"] == full.parts["weights"]
        assert estimate_memory(ppo(use_4bit=True)).parts["weights"] < estimate.parts["weights"]
        assert "total" in estimate.table()

    def test_it_refuses_a_config_that_cannot_fit_the_gpu(self) -> None:
        from alignment.training.memory import ensure_fits, estimate_memory

        estimate = estimate_memory(ppo())
        with pytest.raises(ConfigError) as error:
            ensure_fits(estimate, free_bytes=1024**2)
        assert error.value.key == "memory"
        assert str(error.value).startswith(
            "this config needs about 0.2 GiB but only 0.0 GiB of GPU memory is free"
        )
        ensure_fits(estimate, free_bytes=80 * 1024**3)

    def test_it_refuses_before_loading_anything(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import torch

        import alignment.training.models as models
        from alignment.training.ppo import train_ppo

        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "mem_get_info", lambda *a: (1024, 16 * 1024**3))

        def must_not_load(*args: object, **kwargs: object) -> None:
            raise AssertionError("loaded a model before checking memory")

        monkeypatch.setattr(models, "load_policy", must_not_load)
        with pytest.raises(ConfigError, match="GPU memory is free"):
            train_ppo(ppo(), [{"prompt": "hi"}], tmp_path)
