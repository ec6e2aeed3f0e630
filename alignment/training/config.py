"""One configuration dataclass per training step, read from the JSON fine-tuning users already write.

`load_config` accepts the "strategy" JSON of fine-tuning tools as is (`strategy`, `task`, `model_name`,
`dataset`, `provider`, `num_train_epochs`, …, `eval_split`) plus the PPO knobs, fills hardware preset
defaults, and refuses an unknown key, a wrong type, an out-of-range value or an unsupported choice with a
`ConfigError` naming the key and what is allowed. `config_to_dict` is its inverse, so a config stored as
JSON on a `TrainingRun` row loads back to an equal dataclass.

This module imports only the standard library: the web process validates configs without torch. It is
longer than the others because it is the one table of every key of every step, with each key's default,
bounds and help text next to its field; the checking code after the dataclasses reads that table.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

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


@dataclass
class SFTConfig(TrainConfig):
    """Supervised fine-tuning on demonstrations (`{prompt, completion}` or `{text}` rows)."""

    STEP: ClassVar[str] = "sft"
    learning_rate: float = _field(2e-4, "Peak learning rate (linearly annealed to 0).", gt=0, lt=1)
    completion_only_loss: bool = _field(True, "Train only on completion tokens when rows have a prompt.")


@dataclass
class RewardConfig(TrainConfig):
    """Reward model training on `{prompt, chosen, rejected[, margin]}` rows."""

    STEP: ClassVar[str] = "reward"
    task: str = _field(
        "text-generation",
        "Model task as fine-tuning tools name it.",
        choices=("text-generation", "text-classification"),
    )
    learning_rate: float = _field(1e-4, "Peak learning rate (linearly annealed to 0).", gt=0, lt=1)
    lora_r: int = _field(0, "LoRA rank; 0 trains all weights (the usual choice for a reward model).", ge=0)
    eval_split: float = _field(0.1, "Share of pairs held out to measure accuracy.", ge=0, lt=1)
    center_rewards_coefficient: float | None = _field(
        None, "Weight of the auxiliary loss that keeps rewards centred on 0 (Eisenstein et al., 2023).", ge=0
    )
    normalize: bool = _field(
        True, "Store a gain and bias so scores have mean 0 and std 1 on the training responses."
    )
    length_normalization: bool = _field(
        False, "Fit and remove the linear trend of score on response length (counters length bias)."
    )


@dataclass
class PPOConfig(TrainConfig):
    """PPO against one or several reward models, with a KL leash to the reference (the adapter-free base)."""

    STEP: ClassVar[str] = "ppo"
    learning_rate: float = _field(
        3e-4,
        "Peak learning rate (linearly annealed to 0). The default suits the default LoRA adapters (1.41e-5, "
        "TRL's full-weight value, hardly moves adapters in a few dozen steps); with lora_r 0 use about 1e-5.",
        gt=0,
        lt=1,
    )
    kl_coef: float = _field(0.05, "Initial β of the per-token KL penalty against the reference.", ge=0)
    target_kl: float | None = _field(
        None, "Target per-sequence KL for the adaptive KL controller; null keeps kl_coef fixed.", gt=0
    )
    kl_horizon: int = _field(10000, "Adaptive KL controller horizon in episodes (Ziegler et al.).", ge=1)
    kl_stop: float | None = _field(
        None,
        "Stop the run when the mean per-sequence KL exceeds this (runaway); null: 4 × target_kl if set.",
        gt=0,
    )
    max_approx_kl: float | None = _field(
        None, "Skip a batch's remaining PPO epochs once approx-KL(old‖new) passes 1.5 × this.", gt=0
    )
    cliprange: float = _field(0.2, "PPO policy ratio clip ε.", gt=0, lt=1)
    cliprange_value: float = _field(0.2, "Value prediction clip around the rollout values.", gt=0)
    vf_coef: float = _field(0.1, "Weight of the value loss.", ge=0)
    ppo_epochs: int = _field(4, "Optimisation passes over each rollout batch.", ge=1)
    num_mini_batches: int = _field(1, "Minibatches per PPO epoch (one optimizer step each).", ge=1)
    gamma: float = _field(1.0, "GAE discount.", ge=0, le=1)
    lam: float = _field(0.95, "GAE λ.", ge=0, le=1)
    whiten_rewards: bool = _field(False, "Whiten the per-token rewards of each batch before GAE.")
    whiten_advantages: bool = _field(True, "Whiten advantages per batch (mean 0, std 1).")
    response_length: int = _field(53, "Tokens sampled per response.", ge=1)
    temperature: float = _field(0.7, "Sampling temperature; logits are divided by it in training too.", gt=0)
    missing_eos_penalty: float | None = _field(
        None, "Subtracted from the score of a response that ends without EOS.", ge=0
    )
    reward_model: str | list[str] | None = _field(  # noqa: RUF009
        None,
        "Reward model path(s) or hub id(s), e.g. the reward step's <out>/reward_model; several are summed "
        "with reward_weights. Required: there is no default, so nothing is optimised against an untrained "
        f"model ('{TINY_REWARD_MODEL}' names the untrained built-in one, for demos).",
    )
    reward_weights: list[float] | None = _field(  # noqa: RUF009
        None, "One weight per reward model (e.g. [0.7, 0.3]); null gives every model weight 1."
    )
    reward_baseline: str | None = _field(
        "empty_response",
        "Subtracted from each score before PPO sees it: 'empty_response', the score of the prompt with an "
        "empty response (one reward forward per prompt; it removes what the prompt alone decides), or null.",
        choices=(None, "empty_response"),
    )
    value_model: str | None = _field(
        None,
        "Critic: null puts a zero-initialised value head on the policy trunk (one forward pass for both); "
        "'reward_model' (the first reward model) or a path trains a separate critic initialised from it, "
        "which gives useful values from the first step at the cost of a second network. It must use the "
        "policy's tokenizer.",
    )
    adam_eps: float = _field(1e-5, "Adam ε (1e-5 as in the PPO reference implementations).", gt=0)
    total_episodes: int | None = _field(
        None, "Responses to sample in all; null: num_train_epochs × number of prompts.", ge=1
    )
    save_steps: int = _field(10, "Checkpoint every this many PPO steps (0: only at the end).", ge=0)
    reference_model: str | None = _field(
        None,
        "Fixed reference model of the KL leash (a path or hub id with the policy's tokenizer), e.g. an alignment "
        "plan's base while model_name is the previous champion; null: the starting policy (LoRA disabled, or "
        "a frozen copy with lora_r 0).",
    )


@dataclass
class DPOConfig(TrainConfig):
    """Direct preference optimisation on `{prompt, chosen, rejected}` rows."""

    STEP: ClassVar[str] = "dpo"
    learning_rate: float = _field(5e-5, "Peak learning rate (linearly annealed to 0).", gt=0, lt=1)
    beta: float = _field(0.1, "DPO temperature β: strength of the pull towards the reference.", gt=0)
    loss_type: str = _field("sigmoid", "DPO loss.", choices=("sigmoid", "hinge", "ipo", "robust"))
    label_smoothing: float = _field(0.0, "Conservative DPO label smoothing.", ge=0, lt=0.5)
    reference_model: str | None = _field(
        None,
        "Fixed reference model of the KL leash (a path or hub id with the policy's tokenizer), e.g. an alignment "
        "plan's base while model_name is the previous champion; null: the starting policy (LoRA disabled, or "
        "a frozen copy with lora_r 0).",
    )


@dataclass
class RLOOConfig(TrainConfig):
    """REINFORCE leave-one-out (TRL RLOOTrainer) with our reward model(s)."""

    STEP: ClassVar[str] = "rloo"
    learning_rate: float = _field(1e-4, "Peak learning rate (linearly annealed to 0).", gt=0, lt=1)
    num_generations: int = _field(4, "Responses sampled per prompt (the leave-one-out group).", ge=2)
    kl_coef: float = _field(0.05, "β of the KL penalty against the reference.", ge=0)
    response_length: int = _field(53, "Tokens sampled per response.", ge=1)
    temperature: float = _field(0.7, "Sampling temperature.", gt=0)
    reward_model: str | list[str] | None = _field(  # noqa: RUF009
        None,
        "Reward model path(s) or hub id(s), e.g. the reward step's <out>/reward_model; several are summed "
        "with reward_weights. Required: there is no default, so nothing is optimised against an untrained "
        f"model ('{TINY_REWARD_MODEL}' names the untrained built-in one, for demos).",
    )
    reward_weights: list[float] | None = _field(None, "One weight per reward model; null gives weight 1.")  # noqa: RUF009
    reference_model: str | None = _field(
        None,
        "Fixed reference model of the KL leash (a path or hub id with the policy's tokenizer), e.g. an alignment "
        "plan's base while model_name is the previous champion; null: the starting policy (LoRA disabled, or "
        "a frozen copy with lora_r 0).",
    )


@dataclass
class GenerateConfig(StepConfig):
    """Sampling n responses per prompt, optionally keeping the best by reward."""

    STEP: ClassVar[str] = "generate"
    num_return_sequences: int = _field(4, "Responses sampled per prompt (n).", ge=1)
    response_length: int = _field(64, "Most tokens per response.", ge=1)
    temperature: float = _field(0.7, "Sampling temperature.", gt=0)
    batch_size: int = _field(16, "Prompts per generation batch.", ge=1)
    best_of_n: bool = _field(False, "Keep only the highest-reward response per prompt (needs reward_model).")
    reward_model: str | list[str] | None = _field(  # noqa: RUF009
        None, "Reward model path(s) to score responses; null leaves them unscored."
    )
    reward_weights: list[float] | None = _field(None, "One weight per reward model; null gives weight 1.")  # noqa: RUF009


@dataclass
class EvaluateConfig(StepConfig):
    """Mean reward, KL to the reference, win rate against another policy and reward-model accuracy."""

    STEP: ClassVar[str] = "evaluate"
    reference_model: str | None = _field(
        None, "Policy to measure KL against and to compare win rate with; null skips both."
    )
    baseline_model: str | None = _field(
        None,
        "Policy the reward-model win rate is measured against (e.g. the current champion); null: "
        "reference_model. KL is always to reference_model.",
    )
    reward_model: str | list[str] | None = _field(  # noqa: RUF009
        None, "Reward model path(s) that judge responses and whose accuracy is measured on pairs."
    )
    reward_weights: list[float] | None = _field(None, "One weight per reward model; null gives weight 1.")  # noqa: RUF009
    response_length: int = _field(64, "Most tokens per sampled response.", ge=1)
    temperature: float = _field(0.7, "Sampling temperature.", gt=0)
    batch_size: int = _field(16, "Prompts per batch.", ge=1)
    max_prompts: int | None = _field(None, "Evaluate on at most this many prompts.", ge=1)


CONFIG_CLASSES: dict[str, type[StepConfig]] = {
    cls.STEP: cls
    for cls in (SFTConfig, RewardConfig, PPOConfig, DPOConfig, RLOOConfig, GenerateConfig, EvaluateConfig)
}
"""The config dataclass of each step."""

STEP_RUNNERS: dict[str, tuple[str, bool]] = {
    "sft": ("alignment.training.sft:train_sft", False),
    "reward": ("alignment.training.reward:train_reward", False),
    "ppo": ("alignment.training.ppo:train_ppo", True),
    "dpo": ("alignment.training.dpo:train_dpo", False),
    "rloo": ("alignment.training.rloo:train_rloo", True),
    "generate": ("alignment.training.generate:generate", True),
    "evaluate": ("alignment.training.evaluate:evaluate", True),
}
"""The function that runs each step ("module:function", imported on use so this module stays light), and
whether it takes a `reward_fn`."""

C = TypeVar("C", bound=StepConfig)


def load_config(source: Mapping[str, Any] | str | Path, *, step: str | None = None) -> StepConfig:
    """Parse a JSON file or dict into its step's config, raising `ConfigError` on anything not usable."""
    raw = _read_source(source)
    strategy = raw.get("strategy")
    if strategy is not None and (not isinstance(strategy, str) or strategy not in STRATEGIES):
        raise ConfigError(
            "strategy",
            f"'strategy' = {json.dumps(strategy)} is not supported; allowed values: {_quoted(STRATEGIES)}",
        )
    if step is None:
        if strategy is None:
            raise ConfigError("strategy", f"'strategy' is required; allowed values: {_quoted(STRATEGIES)}")
        step = STRATEGIES[strategy]
    if step not in CONFIG_CLASSES:
        raise ConfigError("strategy", f"unknown step {step!r}; allowed values: {_quoted(CONFIG_CLASSES)}")
    if strategy is not None and STRATEGIES[strategy] != step:
        raise ConfigError(
            "strategy",
            f"'strategy' = {json.dumps(strategy)} is for step '{STRATEGIES[strategy]}', not '{step}'",
        )
    return config_from_dict(CONFIG_CLASSES[step], raw)


def config_from_dict(cls: type[C], raw: Mapping[str, Any]) -> C:
    """Build `cls` from plain JSON values, applying a preset and checking every key, type and bound."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(
                key,
                f"unknown key '{key}' for step '{cls.STEP}'{hint}; allowed keys: {', '.join(sorted(fields))}",
            )
    strategy = raw.get("strategy", cls.STEP)
    if STRATEGIES.get(strategy) != cls.STEP:
        allowed = [name for name, step in STRATEGIES.items() if step == cls.STEP]
        raise ConfigError(
            "strategy",
            f"'strategy' = {json.dumps(strategy)} is not supported here; allowed values: {_quoted(allowed)}",
        )
    values: dict[str, Any] = {}
    preset = raw.get("preset")
    if preset is not None and "preset" in fields:
        _check_choice(fields["preset"], preset)
        values.update({k: v for k, v in PRESETS[preset].items() if k in fields})
    values.update(raw)
    hints = typing.get_type_hints(cls)
    checked = {key: _check_value(fields[key], hints[key], value) for key, value in values.items()}
    checked.setdefault("strategy", cls.STEP)
    config = cls(**checked)
    _check_cross_fields(config)
    return config


def config_to_dict(config: StepConfig) -> dict[str, Any]:
    """Plain JSON values that `load_config` turns back into an equal config."""
    return dataclasses.asdict(config)


def config_help(cls: type[StepConfig]) -> dict[str, str]:
    """Each key of `cls` with its help text (for docs and `--help`)."""
    return {f.name: str(f.metadata.get("help", "")) for f in dataclasses.fields(cls)}


def _read_source(source: Mapping[str, Any] | str | Path) -> dict[str, Any]:
    if isinstance(source, Mapping):
        return dict(source)
    path = Path(source)
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError("", f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(raw, dict):
        raise ConfigError("", f"{path}: a config must be a JSON object, got {type(raw).__name__}")
    return raw


def _quoted(values: Any) -> str:
    return ", ".join(json.dumps(v) for v in values)


_TYPE_NAMES = {
    int: "an integer",
    float: "a number",
    bool: "true or false",
    str: "a string",
    type(None): "null",
}


def _matches(tp: Any, value: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(arg, value) for arg in typing.get_args(tp))
    if origin is list:
        (item,) = typing.get_args(tp)
        return isinstance(value, list) and all(_matches(item, v) for v in value)
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if tp is type(None):
        return value is None
    return isinstance(value, tp)


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in typing.get_args(tp))
    if origin is list:
        (item,) = typing.get_args(tp)
        return f"a list of {_describe(item).removeprefix('a ').removeprefix('an ')}s"
    return _TYPE_NAMES.get(tp, getattr(tp, "__name__", str(tp)))


def _check_value(f: dataclasses.Field[Any], tp: Any, value: Any) -> Any:
    if not _matches(tp, value):
        raise ConfigError(
            f.name, f"'{f.name}' must be {_describe(tp)}, got {json.dumps(value)} ({type(value).__name__})"
        )
    if tp is float or (
        typing.get_origin(tp) in (typing.Union, types.UnionType) and float in typing.get_args(tp)
    ):
        value = float(value) if isinstance(value, int) else value
    _check_choice(f, value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        meta = f.metadata
        for bound, ok, word in (
            ("gt", lambda v, b: v > b, ">"),
            ("ge", lambda v, b: v >= b, ">="),
            ("lt", lambda v, b: v < b, "<"),
            ("le", lambda v, b: v <= b, "<="),
        ):
            limit = meta.get(bound)
            if limit is not None and not ok(value, limit):
                raise ConfigError(
                    f.name, f"'{f.name}' must be {_range_text(meta)}, got {value} (not {word} {limit})"
                )
    return value


def _range_text(meta: Mapping[str, Any]) -> str:
    parts = []
    if meta.get("gt") is not None:
        parts.append(f"> {meta['gt']}")
    if meta.get("ge") is not None:
        parts.append(f">= {meta['ge']}")
    if meta.get("lt") is not None:
        parts.append(f"< {meta['lt']}")
    if meta.get("le") is not None:
        parts.append(f"<= {meta['le']}")
    return " and ".join(parts)


def _check_choice(f: dataclasses.Field[Any], value: Any) -> None:
    choices = f.metadata.get("choices")
    if choices is not None and value not in choices:
        raise ConfigError(
            f.name,
            f"'{f.name}' = {json.dumps(value)} is not supported; allowed values: "
            + ", ".join(json.dumps(c) for c in choices),
        )


def _check_cross_fields(config: StepConfig) -> None:
    models = getattr(config, "reward_model", None)
    weights = getattr(config, "reward_weights", None)
    if weights is not None:
        count = 0 if models is None else 1 if isinstance(models, str) else len(models)
        if len(weights) != count:
            raise ConfigError(
                "reward_weights",
                f"'reward_weights' has {len(weights)} weights for {count} reward model(s); give one per model",
            )
    batch_checks: tuple[tuple[type[TrainConfig], str, str], ...] = (
        (PPOConfig, "num_mini_batches", "the rollout batch "),
        (RLOOConfig, "num_generations", ""),
    )
    for cls, key, batch_name in batch_checks:
        if isinstance(config, cls):
            batch = config.per_device_train_batch_size * config.gradient_accumulation_steps
            if batch % getattr(config, key):
                raise ConfigError(
                    key,
                    f"'{key}' = {getattr(config, key)} must divide {batch_name}"
                    f"per_device_train_batch_size × gradient_accumulation_steps = {batch}",
                )
    response_length = getattr(config, "response_length", None)
    if (
        response_length is not None
        and config.max_seq_length is not None
        and config.max_seq_length < response_length + MIN_PROMPT_TOKENS
    ):
        raise ConfigError(
            "max_seq_length",
            f"'max_seq_length' = {config.max_seq_length} leaves no room for the prompt: it must be at least "
            f"response_length ({response_length}) + {MIN_PROMPT_TOKENS} = {response_length + MIN_PROMPT_TOKENS}",
        )
    if isinstance(config, GenerateConfig) and config.best_of_n and config.reward_model is None:
        raise ConfigError("best_of_n", "'best_of_n' needs a 'reward_model' to rank the responses")
