from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from alignment.training.config import (
    ConfigError,
    GenerateConfig,
    KTOConfig,
    ORPOConfig,
    PPOConfig,
    RewardConfig,
    config_help,
    config_to_dict,
    load_config,
)

# The "Advanced RLHF Configuration" of the fine-tuning tool's RLHF page, with our provider.
RLHF_PAGE_CONFIG: dict[str, Any] = {
    "strategy": "rlhf",
    "task": "text-generation",
    "model_name": "meta-llama/Llama-3.1-8B-Instruct",
    "dataset": "/path/to/preference-data.jsonl",
    "provider": "huggingface",
    "num_train_epochs": 1,
    "per_device_train_batch_size": 2,
    "gradient_accumulation_steps": 4,
    "learning_rate": 1.41e-5,
    "lora_r": 64,
    "lora_alpha": 16,
    "lora_dropout": 0.05,
    "use_4bit": True,
    "bf16": True,
    "max_seq_length": 2048,
    "warmup_ratio": 0.1,
    "eval_split": 0.1,
}

PPO_KEYS: dict[str, Any] = {
    "kl_coef": 0.1,
    "target_kl": 6.0,
    "cliprange": 0.2,
    "cliprange_value": 0.2,
    "vf_coef": 0.1,
    "ppo_epochs": 4,
    "num_mini_batches": 2,
    "gamma": 1.0,
    "lam": 0.95,
    "response_length": 48,
    "temperature": 0.7,
    "missing_eos_penalty": 1.0,
    "reward_model": ["rm/quality", "rm/safety"],
    "reward_weights": [0.7, 0.3],
}


class ConfigTests:
    def test_it_accepts_the_fine_tuning_tools_rlhf_json_as_is(self) -> None:
        config = load_config({**RLHF_PAGE_CONFIG, **PPO_KEYS})
        assert isinstance(config, PPOConfig)
        assert config.step == "ppo"
        assert config.lora_r == 64 and config.use_4bit and config.bf16
        assert config.reward_weights == [0.7, 0.3]
        assert config.num_train_epochs == 1.0 and isinstance(config.num_train_epochs, float)

    def test_it_reads_a_json_file(self, tmp_path: Path) -> None:
        path = tmp_path / "cfg.json"
        path.write_text(json.dumps({**RLHF_PAGE_CONFIG, "strategy": "reward"}))
        config = load_config(path)
        assert isinstance(config, RewardConfig)
        assert config.max_seq_length == 2048

    @pytest.mark.parametrize(
        "strategy,step",
        [
            ("sft", "sft"),
            ("reward", "reward"),
            ("rlhf", "ppo"),
            ("ppo", "ppo"),
            ("dpo", "dpo"),
            ("rloo", "rloo"),
            ("kto", "kto"),
            ("orpo", "orpo"),
        ],
    )
    def test_it_maps_each_strategy_to_its_step(self, strategy: str, step: str) -> None:
        assert load_config({"strategy": strategy}).step == step

    def test_it_names_a_runner_for_every_step(self) -> None:
        import importlib
        import inspect

        from alignment.training.config import CONFIG_CLASSES, STEP_RUNNERS

        assert set(STEP_RUNNERS) == set(CONFIG_CLASSES)
        for step, (target, takes_reward) in STEP_RUNNERS.items():
            module, function = target.split(":")
            runner = getattr(importlib.import_module(module), function)
            assert ("reward_fn" in inspect.signature(runner).parameters) is takes_reward, step

    def test_it_round_trips_through_plain_json(self) -> None:
        config = load_config({**RLHF_PAGE_CONFIG, **PPO_KEYS})
        again = load_config(json.loads(json.dumps(config_to_dict(config))))
        assert again == config
        generate = load_config({"strategy": "generate", "reward_model": "rm", "best_of_n": True})
        assert load_config(config_to_dict(generate)) == generate

    def test_it_has_no_default_reward_model_and_leaves_the_length_to_the_model(self) -> None:
        for strategy in ("ppo", "rloo", "generate", "evaluate"):
            config = load_config({"strategy": strategy})
            assert config.max_seq_length is None
            assert getattr(config, "reward_model") is None  # noqa: B009 - every one of these has the key

    def test_it_fills_defaults_from_a_hardware_preset(self) -> None:
        mid = load_config({"strategy": "rlhf", "preset": "mid_range"})
        assert isinstance(mid, PPOConfig)
        assert (
            mid.use_4bit,
            mid.per_device_train_batch_size,
            mid.gradient_accumulation_steps,
            mid.lora_r,
            mid.max_seq_length,
        ) == (True, 1, 8, 16, 1024)
        high = load_config({"strategy": "rlhf", "preset": "high_end", "lora_r": 32})
        assert isinstance(high, PPOConfig)
        assert (high.per_device_train_batch_size, high.lora_r, high.max_seq_length) == (2, 32, 2048)

    def test_it_documents_every_field(self) -> None:
        for cls in (PPOConfig, RewardConfig, GenerateConfig, KTOConfig, ORPOConfig):
            assert all(text for text in config_help(cls).values())

    def test_it_names_an_unknown_key_and_the_allowed_keys(self) -> None:
        with pytest.raises(ConfigError) as error:
            load_config({"strategy": "ppo", "lora_rank": 8})
        assert error.value.key == "lora_rank"
        assert str(error.value).startswith(
            "unknown key 'lora_rank' for step 'ppo' (did you mean 'lora_r'?); allowed keys: adam_eps, bf16, "
        )
        assert "target_kl" in str(error.value)

    def test_it_names_a_wrong_type(self) -> None:
        with pytest.raises(ConfigError, match=r"^'lora_r' must be an integer, got \"16\" \(str\)$"):
            load_config({"strategy": "ppo", "lora_r": "16"})
        with pytest.raises(ConfigError, match=r"^'use_4bit' must be true or false, got 1 \(int\)$"):
            load_config({"strategy": "ppo", "use_4bit": 1})
        with pytest.raises(ConfigError, match=r"^'reward_weights' must be a list of numbers or null, got"):
            load_config({"strategy": "ppo", "reward_weights": ["a"]})

    def test_it_names_an_out_of_range_value(self) -> None:
        with pytest.raises(ConfigError, match=r"^'learning_rate' must be > 0 and < 1, got -1.0 \(not > 0\)$"):
            load_config({"strategy": "ppo", "learning_rate": -1})
        with pytest.raises(ConfigError, match=r"^'cliprange' must be > 0 and < 1, got 1.5 \(not < 1\)$"):
            load_config({"strategy": "ppo", "cliprange": 1.5})
        with pytest.raises(ConfigError, match=r"^'eval_split' must be >= 0 and < 1, got 1.0 \(not < 1\)$"):
            load_config({"strategy": "reward", "eval_split": 1.0})

    def test_it_names_an_unsupported_provider_strategy_and_preset(self) -> None:
        with pytest.raises(
            ConfigError, match=r"^'provider' = \"unsloth\" is not supported; allowed values: \"huggingface\"$"
        ):
            load_config({**RLHF_PAGE_CONFIG, "provider": "unsloth"})
        with pytest.raises(
            ConfigError, match=r"^'strategy' = \"grpo\" is not supported; allowed values: \"sft\", "
        ):
            load_config({"strategy": "grpo"})
        with pytest.raises(ConfigError, match=r"allowed values: null, \"mid_range\", \"high_end\"$"):
            load_config({"strategy": "ppo", "preset": "gpu"})

    def test_it_checks_keys_that_depend_on_each_other(self) -> None:
        with pytest.raises(ConfigError, match=r"^'reward_weights' has 2 weights for 1 reward model\(s\)"):
            load_config({"strategy": "ppo", "reward_model": "rm", "reward_weights": [0.7, 0.3]})
        with pytest.raises(ConfigError, match=r"^'max_seq_length' = 60 leaves no room for the prompt"):
            load_config({"strategy": "ppo", "response_length": 53, "max_seq_length": 60})
        with pytest.raises(ConfigError, match=r"^'num_mini_batches' = 3 must divide the rollout batch"):
            load_config({"strategy": "ppo", "num_mini_batches": 3})
        with pytest.raises(ConfigError, match=r"^'best_of_n' needs a 'reward_model'"):
            load_config({"strategy": "generate", "best_of_n": True})
        with pytest.raises(ConfigError, match=r"^'strategy' = \"dpo\" is for step 'dpo', not 'ppo'$"):
            load_config({"strategy": "dpo"}, step="ppo")

    def test_it_reads_seed_style_kto_and_orpo_json_and_names_what_it_refuses(self) -> None:
        kto = load_config({**RLHF_PAGE_CONFIG, "strategy": "kto", "beta": 0.2, "desirable_weight": 1.5})
        assert isinstance(kto, KTOConfig)
        assert (kto.beta, kto.desirable_weight, kto.undesirable_weight, kto.lora_r) == (0.2, 1.5, None, 64)
        assert load_config(config_to_dict(kto)) == kto
        orpo = load_config({**RLHF_PAGE_CONFIG, "strategy": "orpo", "beta": 0.25})
        assert isinstance(orpo, ORPOConfig) and orpo.beta == 0.25 and orpo.use_4bit
        with pytest.raises(ConfigError) as error:
            load_config({"strategy": "orpo", "reference_model": "base"})  # ORPO has no reference model
        assert error.value.key == "reference_model"
        assert str(error.value).startswith("unknown key 'reference_model' for step 'orpo'")
        with pytest.raises(ConfigError, match=r"^unknown key 'desirable' for step 'kto' \(did you mean "):
            load_config({"strategy": "kto", "desirable": 2.0})
        with pytest.raises(ConfigError, match=r"^'undesirable_weight' must be > 0, got 0.0 \(not > 0\)$"):
            load_config({"strategy": "kto", "undesirable_weight": 0})
        with pytest.raises(
            ConfigError, match=r"^'loss_type' = \"sigmoid\" is not supported; allowed values: "
        ):
            load_config({"strategy": "kto", "loss_type": "sigmoid"})
        with pytest.raises(ConfigError) as error:
            load_config({"strategy": "kto", "preset": "mid_range"})  # batch 1 x 8 accumulation
        assert error.value.key == "per_device_train_batch_size"
        assert str(error.value).startswith(
            "'per_device_train_batch_size' must be at least 2 for the 'kto' loss"
        )
        assert load_config(
            {"strategy": "kto", "per_device_train_batch_size": 1, "loss_type": "apo_zero_unpaired"}
        )

    def test_it_refuses_4bit_where_bitsandbytes_has_no_backend(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import bitsandbytes.functional

        from alignment.training.models import check_hardware

        def no_backend(*args: Any, **kwargs: Any) -> None:
            raise NotImplementedError("no kernel")

        monkeypatch.setattr(bitsandbytes.functional, "quantize_4bit", no_backend)
        with pytest.raises(ConfigError) as error:
            check_hardware(load_config({"strategy": "ppo", "use_4bit": True}))
        assert error.value.key == "use_4bit"
        assert str(error.value) == (
            "'use_4bit' is not supported on this CPU: bitsandbytes has no 4-bit backend for it "
            '(NotImplementedError: no kernel); set "use_4bit": false'
        )

    def test_it_refuses_bf16_on_a_gpu_without_it(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import torch

        from alignment.training.models import check_hardware

        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "Tesla T4")
        with pytest.raises(
            ConfigError, match=r"^'bf16' is not supported on this GPU \(Tesla T4\); set \"bf16\": false$"
        ):
            check_hardware(load_config({"strategy": "ppo", "bf16": True}))

    def test_it_runs_4bit_and_bf16_where_this_machine_can(self) -> None:
        from alignment.training.models import check_hardware

        check_hardware(
            load_config({"strategy": "ppo", "use_4bit": True, "bf16": True})
        )  # CPU bnb 0.50 has NF4

    def test_it_imports_without_torch(self) -> None:
        code = (
            "import sys, alignment.training, alignment.training.config, alignment.training.ppo, "
            "alignment.training.cli\n"
            "alignment.training.load_config({'strategy': 'rlhf'})\n"
            "heavy = [m for m in ('torch', 'transformers', 'trl', 'peft', 'datasets', 'django') if m in sys.modules]\n"
            "assert not heavy, heavy\n"
        )
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
