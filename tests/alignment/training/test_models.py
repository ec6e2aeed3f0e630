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

    def test_the_builtin_policy_is_pretrained_to_write_text(
        self, tiny_policy: str, other_policy: str
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM

        from alignment.training.models import load_tokenizer
        from alignment.training.sampling import sample_texts

        tokenizer = load_tokenizer(tiny_policy, padding_side="left")
        prompts = [f"user: How do I cook the rice, part {i}?\nassistant: " for i in range(8)]

        def letters_share(folder: str) -> float:
            model = AutoModelForCausalLM.from_pretrained(folder).eval()
            texts, _, _ = sample_texts(
                model,
                tokenizer,
                prompts,
                n=1,
                response_length=48,
                temperature=0.7,
                max_prompt_tokens=200,
                batch_size=8,
                generator=torch.Generator().manual_seed(0),
            )
            flat = "".join(t[0] for t in texts)
            return sum(c.isalpha() or c == " " for c in flat) / max(1, len(flat))

        # Random bytes (the random-init model) are rarely letters; the pretrained policy writes words.
        assert letters_share(tiny_policy) > 0.85
        assert letters_share(other_policy) < 0.6  # 0.50 measured

    def test_the_build_is_the_same_for_a_seed(self, tmp_path: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM

        from alignment.training.tiny import Pretraining, build_tiny

        short = Pretraining(steps=3, batch_size=2)
        a, b, c = (
            AutoModelForCausalLM.from_pretrained(build_tiny(tmp_path / name, seed=seed, pretraining=short))
            for name, seed in (("a", 3), ("b", 3), ("c", 4))
        )
        weights = [dict(m.named_parameters()) for m in (a, b, c)]
        assert all(torch.equal(weights[0][n], weights[1][n]) for n in weights[0])
        assert not torch.equal(weights[0]["transformer.wte.weight"], weights[2]["transformer.wte.weight"])

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

    def test_it_counts_a_reference_for_full_weight_kto_and_none_for_orpo(self) -> None:
        from alignment.training.memory import estimate_memory

        kto = estimate_memory(load_config({"strategy": "kto", "lora_r": 0}))
        assert kto.parts["reference model"] == kto.parts["weights"]
        assert (
            "reference model" not in estimate_memory(load_config({"strategy": "kto"})).parts
        )  # adapters off
        given = estimate_memory(load_config({"strategy": "kto", "reference_model": "concord/tiny"}))
        assert given.parts["reference model"] == given.parts["weights"]  # a second network, adapters or not
        orpo = estimate_memory(load_config({"strategy": "orpo", "lora_r": 0}))
        dpo = estimate_memory(load_config({"strategy": "dpo", "lora_r": 0}))
        assert "reference model" not in orpo.parts
        assert orpo.parts["activations"] == dpo.parts["activations"]  # chosen and rejected in one pass
        assert orpo.total_bytes < dpo.total_bytes

    def test_it_refuses_a_config_that_cannot_fit_the_gpu(self) -> None:
        from alignment.training.memory import ensure_fits, estimate_memory

        estimate = estimate_memory(ppo())  # max_seq_length null: the tiny model's 256 positions
        with pytest.raises(ConfigError) as error:
            ensure_fits(estimate, free_bytes=1024**2)
        assert error.value.key == "memory"
        assert str(error.value).startswith(
            "this config needs about 0.1 GiB but only 0.0 GiB of GPU memory is free"
        )
        assert estimate_memory(ppo(max_seq_length=512)).total_bytes > estimate.total_bytes
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
            train_ppo(ppo(reward_model="concord/tiny-reward"), [{"prompt": "hi"}], tmp_path)


def model_folder(folder: Path, **config: object) -> str:
    """A model folder with only a config.json: enough for every check made before weights load."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "gpt2", **config}))
    return str(folder)


class PreflightTests:
    def test_it_fills_max_seq_length_from_the_models_positions(self, tmp_path: Path) -> None:
        from alignment.training.locate import preflight

        assert preflight(ppo(reward_model="concord/tiny-reward")).max_seq_length == 256
        short = model_folder(tmp_path / "short", n_positions=128)
        assert preflight(ppo(model_name=short, reward_model=short)).max_seq_length == 128
        # A long-context model gets TRL's default budget, not its 128k positions.
        long = model_folder(tmp_path / "long", max_position_embeddings=131072)
        assert preflight(ppo(model_name=long, reward_model=long)).max_seq_length == 1024
        nested = model_folder(tmp_path / "nested", text_config={"max_position_embeddings": 512})
        assert preflight(ppo(model_name=nested, reward_model=nested)).max_seq_length == 512

    def test_it_refuses_a_length_over_the_models_positions_before_loading_weights(
        self, tmp_path: Path
    ) -> None:
        from alignment.training.locate import preflight

        # The folder has no weights: the refusal comes from its config.json alone.
        folder = model_folder(tmp_path / "m", n_positions=256)
        config = load_config({"strategy": "reward", "model_name": folder, "max_seq_length": 512})
        with pytest.raises(ConfigError, match=r"^'max_seq_length' = 512 is longer than model_name") as caught:
            preflight(config)
        assert caught.value.key == "max_seq_length" and "256 positions" in str(caught.value)

    def test_it_refuses_a_response_length_that_leaves_no_room_for_the_prompt(self, tmp_path: Path) -> None:
        from alignment.training.locate import preflight

        with pytest.raises(ConfigError) as caught:
            preflight(ppo(reward_model="concord/tiny-reward", response_length=250))
        assert caught.value.key == "response_length" and "at most 248" in str(caught.value)
        with pytest.raises(ConfigError) as explicit:
            ppo(reward_model="concord/tiny-reward", response_length=100, max_seq_length=64)
        assert explicit.value.key == "max_seq_length"

    def test_it_requires_a_reward_model_for_ppo_and_rloo_but_not_to_generate(self) -> None:
        from alignment.training.locate import preflight

        for strategy in ("ppo", "rloo"):
            with pytest.raises(ConfigError, match=r"^'reward_model' is required") as caught:
                preflight(load_config({"strategy": strategy}))
            assert caught.value.key == "reward_model"
            # A reward function given in code is a reward: no model needed.
            assert preflight(load_config({"strategy": strategy}), reward_fn=True).max_seq_length == 256
        assert preflight(load_config({"strategy": "generate"})).max_seq_length == 256

    def test_it_refuses_a_hub_model_that_is_not_cached_at_once_when_offline(self, offline: Path) -> None:
        import time

        from alignment.training.config import ModelNotFoundError
        from alignment.training.locate import preflight

        started = time.perf_counter()
        config = load_config({"strategy": "rlhf", "model_name": "meta-llama/Llama-3.1-8B-Instruct"})
        with pytest.raises(ModelNotFoundError) as caught:
            preflight(config)
        assert time.perf_counter() - started < 2
        assert caught.value.key == "model_name" and isinstance(caught.value, ConfigError)
        message = str(caught.value)
        assert (
            "\n" not in message and "not a local folder" in message and "not in the local Hugging" in message
        )
        assert '"model_name": "DIR"' in message
        with pytest.raises(ModelNotFoundError) as reward:
            preflight(ppo(reward_model="runs/rm/reward_model"))
        assert reward.value.key == "reward_model" and "no such folder" in str(reward.value)

    def test_it_uses_a_hub_model_from_the_local_cache_without_the_hub(self, offline: Path) -> None:
        import json

        from alignment.training.locate import preflight, resolve_model

        snapshot = offline / "models--acme--small" / "snapshots" / ("0" * 40)
        model_folder(snapshot, n_positions=200)
        (offline / "models--acme--small" / "refs").mkdir()
        (offline / "models--acme--small" / "refs" / "main").write_text("0" * 40)
        config = preflight(ppo(model_name="acme/small", reward_model="acme/small"))
        assert config.max_seq_length == 200
        assert resolve_model("acme/small") == str(snapshot)  # loaded from the cache, no hub retries
        assert json.loads((snapshot / "config.json").read_text())["n_positions"] == 200

    def test_it_refuses_a_folder_that_is_not_a_model(self, tmp_path: Path) -> None:
        from alignment.training.config import ModelNotFoundError
        from alignment.training.locate import preflight

        (tmp_path / "empty").mkdir()
        with pytest.raises(ModelNotFoundError, match=r"is a folder without config\.json") as caught:
            preflight(load_config({"strategy": "sft", "model_name": str(tmp_path / "empty")}))
        assert caught.value.key == "model_name"


class TruncationTests:
    def test_it_keeps_the_end_of_a_long_prompt(self, tiny_policy: str) -> None:
        from alignment.training.locate import truncate_left
        from alignment.training.models import load_tokenizer

        tokenizer = load_tokenizer(tiny_policy)
        text = "user: " + "early words " * 40 + "user: the last question?\nassistant: "
        kept = truncate_left(tokenizer, text, 60)
        assert text.endswith(kept) and len(tokenizer(kept, add_special_tokens=False)["input_ids"]) == 60
        assert truncate_left(tokenizer, "short", 60) == "short"
        accents = "é" * 100  # two bytes each: never cut inside a character
        assert truncate_left(tokenizer, accents, 9) == "é" * 4
