"""Concord's training library: configs, models, reward models, PPO, DPO, RLOO, KTO, ORPO, generation and
evaluation.

A plain Python library with no Django import. Importing it is cheap: torch, transformers, trl, peft and
datasets load only when a step runs. Each step takes a config dataclass, rows (dicts or a data file),
an output folder and an optional progress callback, and returns a JSON-serialisable result dataclass.

    from alignment.training import load_config, run_step
    result = run_step(load_config({"strategy": "ppo", ...}), rows, "out/ppo", progress=print)
    result.to_dict()  # store on the TrainingRun row
"""

from __future__ import annotations

from typing import Any

from alignment.training.config import (
    ConfigError,
    DPOConfig,
    EvaluateConfig,
    GenerateConfig,
    KTOConfig,
    ModelNotFoundError,
    ORPOConfig,
    PPOConfig,
    RewardConfig,
    RLOOConfig,
    SFTConfig,
    StepConfig,
    config_to_dict,
    load_config,
)

_LAZY = {
    "run_step": "alignment.training.steps",
    "train_sft": "alignment.training.sft",
    "train_reward": "alignment.training.reward",
    "train_ppo": "alignment.training.ppo",
    "train_dpo": "alignment.training.dpo",
    "train_rloo": "alignment.training.rloo",
    "train_kto": "alignment.training.kto",
    "train_orpo": "alignment.training.orpo",
    "generate": "alignment.training.generate",
    "evaluate": "alignment.training.evaluate",
    "estimate_memory": "alignment.training.memory",
    "tiny_path": "alignment.training.tiny",
    "StepResult": "alignment.training.results",
    "SFTResult": "alignment.training.sft",
    "RewardResult": "alignment.training.reward",
    "PPOResult": "alignment.training.ppo",
    "DPOResult": "alignment.training.dpo",
    "RLOOResult": "alignment.training.rloo",
    "KTOResult": "alignment.training.kto",
    "ORPOResult": "alignment.training.orpo",
    "GenerateResult": "alignment.training.generate",
    "EvaluateResult": "alignment.training.evaluate",
}


def __getattr__(name: str) -> Any:
    """Step functions and result classes, imported on first use (their modules import torch lazily too)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'alignment.training' has no attribute {name!r}")


__all__ = [
    "ConfigError",
    "DPOConfig",
    "EvaluateConfig",
    "GenerateConfig",
    "KTOConfig",
    "ModelNotFoundError",
    "ORPOConfig",
    "PPOConfig",
    "RLOOConfig",
    "RewardConfig",
    "SFTConfig",
    "StepConfig",
    "config_to_dict",
    "load_config",
    *_LAZY,
]
