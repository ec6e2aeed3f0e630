"""Finding models and checking a config against them before any weights load.

Finding: a built-in tiny model, a local folder, the local Hugging Face cache, or the hub (probed once a
minute, never retried). Checking (`preflight`): every model a config names can be found, PPO and RLOO have
a reward, and the lengths fit the models' positions, read from their config.json. Also the token budgets
that follow from those lengths. Nothing here imports torch or transformers.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, TypeVar

from alignment.training.config import (
    DEFAULT_MAX_SEQ_LENGTH,
    MIN_PROMPT_TOKENS,
    ConfigError,
    ModelNotFoundError,
    StepConfig,
)
from alignment.training.tiny import REFERENCE_SHAPE, is_tiny, tiny_path

POSITION_KEYS = ("n_positions", "max_position_embeddings", "n_ctx", "max_sequence_length", "seq_length")
"""config.json keys that hold a model's number of positions (the longest sequence it takes)."""

_C = TypeVar("_C", bound=StepConfig)


def resolve_model(name: str) -> str:
    """A loadable location for `name`: the built-in tiny models' folder, a local path, the cached snapshot of
    a hub id when the hub cannot be reached (no retries), or the hub id as is."""
    if is_tiny(name):
        return str(tiny_path(name))
    if Path(name).expanduser().exists():
        return str(Path(name).expanduser())
    if not hub_reachable():
        cached = _cached_config(name)
        if cached is not None:
            return str(Path(cached).parent)
    return name


_HUB_PROBE_TTL_S = 60.0
_hub_probe: dict[str, float] = {}


def hub_reachable() -> bool:
    """Whether the Hugging Face hub can be reached: False under HF_HUB_OFFLINE, else one TCP connect (2 s
    at most), remembered for a minute so a worker does not probe per model yet notices the network return."""
    import socket
    import time
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    now = time.monotonic()
    if now - _hub_probe.get("at", -_HUB_PROBE_TTL_S) < _HUB_PROBE_TTL_S:
        return bool(_hub_probe["reachable"])
    endpoint = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection(
            (endpoint.hostname or "huggingface.co", endpoint.port or 443), timeout=2
        ).close()
        reachable = True
    except OSError:
        reachable = False
    _hub_probe.update(at=now, reachable=float(reachable))
    return reachable


def forget_hub_probe() -> None:
    """Drop the remembered hub probe (tests, or after the network changed)."""
    _hub_probe.clear()


def _looks_like_path(name: str) -> bool:
    # A hub id is "name" or "owner/name"; anything else can only be meant as a folder.
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or name.endswith("/")


def _cached_config(name: str) -> str | None:
    """The config.json of hub id `name` in the local hub cache, if there (no network)."""
    if _looks_like_path(name):
        return None
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(name, "config.json")
        if not isinstance(found, str):
            found = try_to_load_from_cache(name, "adapter_config.json")
    except ValueError:  # not a valid repo id
        return None
    return found if isinstance(found, str) else None


def check_model(name: str, *, key: str) -> None:
    """Raise `ModelNotFoundError` (naming `key`) unless `name` is built in, a model folder, in the local hub
    cache, or a hub id on a machine that reaches the hub. Makes no hub request."""
    if is_tiny(name):
        return
    folder = Path(name).expanduser()
    if folder.exists():
        if not (folder / "config.json").exists() and not (folder / "adapter_config.json").exists():
            raise ModelNotFoundError(
                key,
                f"'{key}' = {json.dumps(name)} is a folder without config.json; point '{key}' at a folder "
                "saved with save_pretrained (config.json, weights and tokenizer files)",
            )
        return
    if _looks_like_path(name):
        raise ModelNotFoundError(
            key,
            f"'{key}' = {json.dumps(name)}: no such folder; point '{key}' at a folder saved with save_pretrained",
        )
    if _cached_config(name) is not None or hub_reachable():
        return
    raise ModelNotFoundError(
        key,
        f"'{key}' = {json.dumps(name)} is not a local folder and not in the local Hugging Face cache, and the hub "
        "cannot be reached from this machine; download it where there is a network (huggingface-cli download "
        f'{name} --local-dir DIR), copy DIR here and set "{key}": "DIR" (or "concord/tiny", the built-in model)',
    )


def model_config_json(name: str) -> dict[str, Any] | None:
    """The config.json of a model without loading it (built-in, local folder or hub cache); None if unknown."""
    if is_tiny(name):
        return {"n_positions": REFERENCE_SHAPE.n_positions}
    folder = Path(name).expanduser()
    path: Path | None = None
    if folder.exists():
        path = folder / "config.json"
        if not path.exists():
            adapter = folder / "adapter_config.json"
            if adapter.exists():
                base = json.loads(adapter.read_text()).get("base_model_name_or_path")
                return model_config_json(base) if isinstance(base, str) and base != name else None
            return None
    else:
        cached = _cached_config(name)
        if cached is None:
            return None
        path = Path(cached)
        if path.name == "adapter_config.json":
            base = json.loads(path.read_text()).get("base_model_name_or_path")
            return model_config_json(base) if isinstance(base, str) and base != name else None
    try:
        loaded = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return loaded if isinstance(loaded, dict) else None


def model_positions(name: str) -> tuple[int, str] | None:
    """(positions, the config.json key holding them) of a model, read from its config.json; None if unknown."""
    raw = model_config_json(name)
    if raw is None:
        return None
    for source in (raw, raw.get("text_config") or {}):
        for key in POSITION_KEYS:
            value = source.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value, key
    return None


def _named_models(config: StepConfig, *, with_reward: bool) -> list[tuple[str, str, bool]]:
    """(key, name, reads the whole sequence) for every model a config names."""
    from alignment.training.scoring import as_list

    out = [("model_name", config.model_name, True)]
    if with_reward:
        out += [("reward_model", name, False) for name in as_list(getattr(config, "reward_model", None))]
    value_model = getattr(config, "value_model", None)
    if value_model is not None and value_model != "reward_model":
        out.append(("value_model", value_model, True))
    for key in ("reference_model", "baseline_model"):
        name = getattr(config, key, None)
        if name is not None:
            out.append((key, name, True))
    return out


def preflight(config: _C, *, reward_fn: bool = False) -> _C:
    """Check, before any weights load, that every named model can be found, that PPO and RLOO have a reward
    (a reward model, or `reward_fn` given: then the reward models are not checked) and that the lengths fit
    the model; return the config with `max_seq_length` filled in (null: the model's limit, at most
    DEFAULT_MAX_SEQ_LENGTH). Raises `ConfigError` (or `ModelNotFoundError`) naming the key."""
    from alignment.training.config import PPOConfig, RLOOConfig

    check_model(config.model_name, key="model_name")
    needs_reward = isinstance(config, PPOConfig | RLOOConfig) and not reward_fn
    if needs_reward and getattr(config, "reward_model", None) is None:
        raise ConfigError(
            "reward_model",
            f"'reward_model' is required for {config.step}: train one with the reward step and set "
            '"reward_model": "<out>/reward_model" (nothing is optimised against an untrained reward model)',
        )
    models = _named_models(config, with_reward=not reward_fn)
    for key, name, _ in models:
        check_model(name, key=key)
    limit = model_positions(config.model_name)
    length = config.max_seq_length
    if length is None:
        length = min(limit[0], DEFAULT_MAX_SEQ_LENGTH) if limit else DEFAULT_MAX_SEQ_LENGTH
    for key, name, whole in models:
        positions = model_positions(name)
        if whole and positions is not None and length > positions[0]:
            if config.max_seq_length is None and key == "model_name":
                continue  # cannot happen: the default is the model's own limit
            raise ConfigError(
                "max_seq_length",
                f"'max_seq_length' = {length} is longer than {key} {json.dumps(name)} takes ({positions[0]} "
                f"positions, '{positions[1]}' in its config.json); set it to {positions[0]} or less, or null "
                "for the model's own limit",
            )
    response_length = getattr(config, "response_length", None)
    if response_length is not None and length < response_length + MIN_PROMPT_TOKENS:
        raise ConfigError(
            "response_length",
            f"'response_length' = {response_length} leaves no room for the prompt in {length} tokens "
            f"(max_seq_length, the model's limit): it must be at most {length - MIN_PROMPT_TOKENS}",
        )
    return dataclasses.replace(config, max_seq_length=length)


def seq_length(config: StepConfig) -> int:
    """`max_seq_length` of a config that went through `preflight`."""
    if config.max_seq_length is None:
        raise ConfigError(
            "max_seq_length", "'max_seq_length' is unresolved; run the config through preflight"
        )
    return config.max_seq_length


def prompt_budget(max_length: int, response_length: int | None = None) -> int:
    """Tokens a prompt keeps: what leaves room for `response_length` sampled tokens (PPO, RLOO, generate,
    evaluate), or, for steps that train on given responses (DPO, SFT), half of `max_length` (TRL's former
    max_prompt_length split), so a long conversation never crowds the response out."""
    if response_length is not None:
        return max(1, max_length - response_length)
    return max(1, max_length // 2)


def truncate_left(tokenizer: Any, text: str, max_tokens: int) -> str:
    """The longest end of `text` that tokenizes to at most `max_tokens` tokens (text as is if it fits).

    Cut on characters, not ids, so the result is text that tokenizes the same way wherever it is used.
    """

    def count(start: int) -> int:
        return len(tokenizer(text[start:], add_special_tokens=False)["input_ids"])

    if count(0) <= max_tokens:
        return text
    low, high = 0, len(text)  # count(high) == 0 fits; find the smallest start that fits
    while low < high:
        middle = (low + high) // 2
        if count(middle) <= max_tokens:
            high = middle
        else:
            low = middle + 1
    return text[low:]
