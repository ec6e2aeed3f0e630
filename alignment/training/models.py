"""Loading and saving models: local path or hub id, LoRA adapters, 4-bit and bf16, with hardware checks.

Longer than ~350 lines because finding a model (path, cache, hub), checking a config against the models it
names before anything loads (`preflight`: lengths, hardware) and loading them share the same resolution
rules; split apart, each half would restate them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import warnings
from pathlib import Path
from typing import Any, TypeVar

from alignment.training.config import (
    DEFAULT_MAX_SEQ_LENGTH,
    MIN_PROMPT_TOKENS,
    ConfigError,
    ModelNotFoundError,
    StepConfig,
    TrainConfig,
)
from alignment.training.tiny import REFERENCE_SHAPE, is_tiny, tiny_path

CALIBRATION_FILE = "concord_reward.json"
"""Sidecar of a reward model folder: gain, bias and length coefficient applied to its raw scores."""

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
    reference = getattr(config, "reference_model", None)
    if reference is not None:
        out.append(("reference_model", reference, True))
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


def quiet_transformers() -> None:
    """Silence per-load progress bars and advisory warnings so the CLI's own progress bar stays readable."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    # TRL warns once per dataset that ByT5's prompt-alone tokenization ends in EOS; it then drops that EOS,
    # which is the sequence we want, so the warning is noise here.
    logging.getLogger("trl").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*tokenized prompt is not a prefix.*")
    try:
        import datasets

        datasets.disable_progress_bars()
        datasets.utils.logging.set_verbosity_error()
    except ImportError:  # datasets is only needed by the TRL-based steps
        pass


def check_hardware(config: StepConfig) -> None:
    """Refuse `use_4bit`/`bf16` with a `ConfigError` where this machine cannot run them."""
    import torch

    if config.bf16:
        if torch.cuda.is_available():
            if not torch.cuda.is_bf16_supported():
                raise ConfigError(
                    "bf16",
                    f"'bf16' is not supported on this GPU ({torch.cuda.get_device_name(0)}); set \"bf16\": false",
                )
        else:
            try:
                torch.ones(2, 2, dtype=torch.bfloat16) @ torch.ones(2, 2, dtype=torch.bfloat16)
            except RuntimeError as exc:
                raise ConfigError(
                    "bf16", f"'bf16' is not supported by this CPU build of torch ({exc}); set \"bf16\": false"
                ) from exc
    if config.use_4bit:
        try:
            import bitsandbytes.functional as bnb_functional
        except ImportError as exc:
            raise ConfigError(
                "use_4bit",
                "'use_4bit' needs the bitsandbytes package, which is not installed; "
                'install it or set "use_4bit": false',
            ) from exc
        device = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            bnb_functional.quantize_4bit(torch.ones(64, 64, device=device), quant_type="nf4")
        except Exception as exc:  # bitsandbytes raises various types for a missing backend
            raise ConfigError(
                "use_4bit",
                f"'use_4bit' is not supported on this {device.upper()}: bitsandbytes has no 4-bit backend "
                f'for it ({type(exc).__name__}: {exc}); set "use_4bit": false',
            ) from exc


def model_dtype(config: StepConfig) -> Any:
    """The torch dtype weights are computed in."""
    import torch

    return torch.bfloat16 if config.bf16 else torch.float32


def _quantization(config: StepConfig) -> Any:
    if not config.use_4bit:
        return None
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=model_dtype(config),
    )


def load_tokenizer(path: str, *, padding_side: str = "right") -> Any:
    """The tokenizer saved with a model, with a pad token (EOS when the model has none)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = padding_side
    return tokenizer


def lora_config(config: TrainConfig, *, task_type: str) -> Any:
    """The peft LoRA config of a training config (None when lora_r is 0: all weights train)."""
    if config.lora_r == 0:
        return None
    from peft import LoraConfig

    targets = config.lora_target_modules
    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=targets,
        task_type=task_type,
        # GPT-2 uses Conv1D (transposed) layers; peft needs to be told, and says so itself otherwise.
        fan_in_fan_out=_uses_conv1d(config.model_name),
    )


def _uses_conv1d(name: str) -> bool:
    try:
        with open(Path(resolve_model(name)) / "config.json") as handle:
            return json.load(handle).get("model_type") == "gpt2"
    except OSError:
        return False


def load_causal_lm(config: StepConfig, path: str | None = None, *, trainable: bool = False) -> Any:
    """A causal LM from `path` (default: config.model_name) with the config's dtype and 4-bit setting."""
    from transformers import AutoModelForCausalLM

    quiet_transformers()
    check_hardware(config)
    location = resolve_model(path or config.model_name)
    model = AutoModelForCausalLM.from_pretrained(
        location, dtype=model_dtype(config), quantization_config=_quantization(config)
    )
    if config.use_4bit and trainable:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    model.config.use_cache = True
    return model


def load_lm_and_tokenizer(
    config: StepConfig, *, padding_side: str, trainable: bool = False
) -> tuple[Any, Any]:
    """The config's causal LM (in eval mode unless `trainable`) and its tokenizer padding on `padding_side`."""
    model = load_causal_lm(config, trainable=trainable)
    if not trainable:
        model.eval()
    return model, load_tokenizer(resolve_model(config.model_name), padding_side=padding_side)


def load_policy(config: TrainConfig) -> tuple[Any, Any]:
    """The trainable policy (LoRA adapters when lora_r > 0, else all weights) and its left-padding tokenizer."""
    model = load_causal_lm(config, trainable=True)
    peft_config = lora_config(config, task_type="CAUSAL_LM")
    if peft_config is not None:
        from peft import get_peft_model

        model = get_peft_model(model, peft_config)
    tokenizer = load_tokenizer(resolve_model(config.model_name), padding_side="left")
    return model, tokenizer


def load_reward_model(path: str, *, bf16: bool = False) -> tuple[Any, Any, dict[str, float]]:
    """A frozen sequence-classification reward model, its tokenizer and its calibration sidecar."""
    import torch
    from transformers import AutoModelForSequenceClassification

    quiet_transformers()
    location = resolve_model(path)
    model = AutoModelForSequenceClassification.from_pretrained(
        location, dtype=torch.bfloat16 if bf16 else torch.float32, num_labels=1
    )
    model.eval().requires_grad_(False)
    tokenizer = load_tokenizer(location, padding_side="right")
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    calibration: dict[str, float] = {"gain": 1.0, "bias": 0.0, "length_coef": 0.0}
    sidecar = Path(location) / CALIBRATION_FILE
    if sidecar.exists():
        calibration.update(json.loads(sidecar.read_text()))
    return model, tokenizer, calibration


def save_policy(model: Any, tokenizer: Any, folder: str | Path) -> Path:
    """Save a policy loadable with `from_pretrained`: adapters merged in, unless the base is 4-bit."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    # Checked by module name so a run without adapters never pays peft's (bitsandbytes') import.
    if type(model).__module__.startswith("peft."):
        quantized = getattr(model.base_model.model, "is_loaded_in_4bit", False)
        if quantized:
            # A 4-bit base cannot absorb adapters losslessly; save the adapter, which
            # `from_pretrained` loads on top of the base named in adapter_config.json.
            model.save_pretrained(str(folder))
        else:
            import copy

            merged = copy.deepcopy(model).merge_and_unload()
            merged.save_pretrained(folder)
    else:
        model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
