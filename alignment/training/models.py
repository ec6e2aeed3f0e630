"""Loading and saving models: LoRA adapters, 4-bit and bf16 (with hardware checks), tokenizers, reward
models with their calibration sidecar. Finding a model and checking a config before loading are in `locate`.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

from alignment.training.config import ConfigError, StepConfig, TrainConfig
from alignment.training.locate import resolve_model

CALIBRATION_FILE = "concord_reward.json"
"""Sidecar of a reward model folder: gain, bias and length coefficient applied to its raw scores."""


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


def load_reference(config: StepConfig, name: str, tokenizer: Any) -> Any:
    """Causal LM `name`, frozen in eval mode, as the reference of a KL term; a `ConfigError` naming
    'reference_model' unless it has the policy's `tokenizer` (the term compares log-probs of the same ids)."""
    from alignment.training.scoring import same_tokenizer

    if not same_tokenizer(load_tokenizer(resolve_model(name)), tokenizer):
        raise ConfigError(
            "reference_model",
            f"'reference_model' {name!r} uses another tokenizer than the policy; the KL term compares "
            "log-probabilities of the same tokens, so use a model with the policy's tokenizer",
        )
    return load_causal_lm(config, name).eval().requires_grad_(False)


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
