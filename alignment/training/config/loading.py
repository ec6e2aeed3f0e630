"""Reading a config: `load_config` and `config_from_dict` check every key, type, bound and choice against
the step dataclasses' fields and the keys that depend on each other; `config_to_dict` is their inverse."""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from alignment.training.config.base import (
    MIN_PROMPT_TOKENS,
    PRESETS,
    STRATEGIES,
    ConfigError,
    StepConfig,
    TrainConfig,
)
from alignment.training.config.steps import (
    CONFIG_CLASSES,
    GenerateConfig,
    KTOConfig,
    PPOConfig,
    RLOOConfig,
)

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
        try:
            value = float(value) if isinstance(value, int) else value
        except OverflowError:  # an integer beyond any float (JSON allows 1 followed by 400 zeros)
            value = math.inf
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f.name, f"'{f.name}' must be a finite number, got {json.dumps(value)}")
    texts = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    if any(isinstance(text, str) and "\x00" in text for text in texts):
        raise ConfigError(f.name, f"'{f.name}' must not contain a NUL character")
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
    if isinstance(config, KTOConfig) and config.loss_type == "kto" and config.per_device_train_batch_size < 2:
        raise ConfigError(
            "per_device_train_batch_size",
            "'per_device_train_batch_size' must be at least 2 for the 'kto' loss: it estimates its KL term from "
            "each batch's completions paired with the batch's other prompts (TRL KTOTrainer)",
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
