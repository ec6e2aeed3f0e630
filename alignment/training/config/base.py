"""What every step config shares: the constants and tables its keys refer to, the errors `load_config`
raises, `_field` (a field with its help text and bounds, for the step dataclasses) and the two base
dataclasses."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

TINY_MODEL = "concord/tiny"
TINY_REWARD_MODEL = "concord/tiny-reward"

DEFAULT_MAX_SEQ_LENGTH = 1024
"""`max_seq_length` when a config leaves it null and the model takes more (TRL's default `max_length`)."""

MIN_PROMPT_TOKENS = 8
"""Prompt tokens a sampling step keeps at least: `max_seq_length` must leave them after `response_length`."""

STRATEGIES: dict[str, str] = {
    "sft": "sft",
    "reward": "reward",
    "rlhf": "ppo",
    "ppo": "ppo",
    "dpo": "dpo",
    "rloo": "rloo",
    "kto": "kto",
    "orpo": "orpo",
    "generate": "generate",
    "evaluate": "evaluate",
}
"""Accepted `strategy` values and the step each one runs (`rlhf` is the fine-tuning tools' name for PPO)."""

PRESETS: dict[str, dict[str, Any]] = {
    # Numbers from the fine-tuning tool's RLHF page, "Recommended Settings by Hardware".
    "mid_range": {  # 12-16 GB of accelerator memory
        "use_4bit": True,
        "per_device_train_batch_size": 1,
        "gradient_accumulation_steps": 8,
        "lora_r": 16,
        "max_seq_length": 1024,
    },
    "high_end": {  # more than 16 GB
        "use_4bit": True,
        "per_device_train_batch_size": 2,
        "gradient_accumulation_steps": 4,
        "lora_r": 64,
        "max_seq_length": 2048,
    },
}
"""Hardware presets: defaults a config gets from `"preset": name` unless it sets the key itself."""


class ConfigError(ValueError):
    """A configuration value that cannot be used; `key` names the offending key."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


class ModelNotFoundError(ConfigError):
    """A model named by `key` that is not built in, not a local folder and not in the local hub cache, on a
    machine that cannot reach the hub (or a local path that does not exist)."""


def _field(
    default: Any,
    help: str,
    *,
    choices: tuple[Any, ...] | None = None,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
) -> Any:
    """A dataclass field with a help text and the bounds `load_config` enforces.

    It returns `dataclasses.field(...)` (list defaults through default_factory), so the RUF009
    "function call in dataclass default" findings on list-typed fields are false positives.
    """
    meta = {"help": help, "choices": choices, "gt": gt, "ge": ge, "lt": lt, "le": le}
    if isinstance(default, list | dict):
        return field(default_factory=lambda: json.loads(json.dumps(default)), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class StepConfig:
    """Keys every step understands."""

    STEP: ClassVar[str] = ""

    strategy: str = _field("", "Which step this config is for: " + ", ".join(STRATEGIES) + ".")
    model_name: str = _field(
        TINY_MODEL,
        "Model to start from: a local folder (save_pretrained layout) or a hub id; "
        f"'{TINY_MODEL}' is the built-in tiny GPT-2-shaped model.",
    )
    dataset: str | None = _field(
        None, "Data file (JSONL, JSON, CSV or Parquet); the command line's --data overrides it."
    )
    provider: str = _field("huggingface", "Model/training backend.", choices=("huggingface",))
    use_4bit: bool = _field(False, "Load the base weights in 4-bit NF4 (bitsandbytes, QLoRA).")
    bf16: bool = _field(False, "Compute in bfloat16 instead of float32.")
    max_seq_length: int | None = _field(
        None,
        "Longest prompt+response in tokens; null: the model's own limit (n_positions or "
        f"max_position_embeddings in its config.json), at most {DEFAULT_MAX_SEQ_LENGTH}. Longer inputs lose "
        "the start of the prompt (the end of a conversation is kept); a value over the model's limit is refused.",
        ge=8,
    )
    seed: int = _field(0, "Random seed for sampling, data order and initialisation.", ge=0)

    @property
    def step(self) -> str:
        """The step this config runs."""
        return self.STEP


@dataclass
class TrainConfig(StepConfig):
    """Keys of the fine-tuning tools' JSON shared by every training step."""

    task: str = _field(
        "text-generation", "Model task as fine-tuning tools name it.", choices=("text-generation",)
    )
    preset: str | None = _field(
        None,
        "Hardware preset filling defaults: 'mid_range' (12-16 GB) or 'high_end' (more).",
        choices=(None, *PRESETS),
    )
    num_train_epochs: float = _field(1.0, "Passes over the data.", gt=0)
    max_steps: int | None = _field(
        None, "Stop after this many optimizer (or PPO) steps; overrides epochs.", ge=1
    )
    per_device_train_batch_size: int = _field(
        8, "Examples per forward pass (PPO: prompts per micro-batch).", ge=1
    )
    gradient_accumulation_steps: int = _field(1, "Micro-batches accumulated per optimizer step.", ge=1)
    learning_rate: float = _field(1.41e-5, "Peak learning rate (linearly annealed to 0).", gt=0, lt=1)
    lora_r: int = _field(16, "LoRA rank; 0 trains all weights instead of adapters.", ge=0)
    lora_alpha: int = _field(32, "LoRA scaling numerator (scale = lora_alpha / lora_r).", ge=1)
    lora_dropout: float = _field(0.05, "Dropout on the LoRA input.", ge=0, lt=1)
    lora_target_modules: str | list[str] = _field(  # noqa: RUF009
        "all-linear", "Modules that get adapters: 'all-linear' or a list of module names."
    )
    warmup_ratio: float = _field(0.0, "Share of steps spent warming the learning rate up.", ge=0, lt=1)
    eval_split: float = _field(0.0, "Share of rows held out for evaluation.", ge=0, lt=1)
    max_grad_norm: float = _field(1.0, "Gradient norm clip.", gt=0)
    logging_steps: int = _field(10, "Report metrics every this many steps.", ge=1)
    save_steps: int = _field(0, "Checkpoint every this many steps (0: only at the end).", ge=0)
