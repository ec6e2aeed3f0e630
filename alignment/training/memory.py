"""Memory estimate of a config before anything is loaded, and the refusal of one that cannot fit a GPU.

The estimate reads only the model's `config.json`, so it is cheap and works before weights are loaded.
Activation memory follows Korthikanti et al. (2022), "Reducing Activation Recomputation in Large
Transformer Models": s·b·h·(34 + 5·a·s/h) bytes per layer in 16-bit, scaled for 32-bit compute.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from alignment.training.config import (
    DEFAULT_MAX_SEQ_LENGTH,
    ConfigError,
    PPOConfig,
    RLOOConfig,
    StepConfig,
    TrainConfig,
)

GIB = 1024**3


@dataclass
class ModelShape:
    """What the estimate needs to know about a transformer."""

    layers: int
    hidden: int
    heads: int
    intermediate: int
    vocab: int
    positions: int
    gated_mlp: bool
    tied_embeddings: bool

    @property
    def params(self) -> int:
        """Approximate parameter count."""
        mlp = (3 if self.gated_mlp else 2) * self.hidden * self.intermediate
        per_layer = 4 * self.hidden * self.hidden + mlp + 8 * self.hidden
        embeddings = self.vocab * self.hidden * (1 if self.tied_embeddings else 2)
        return self.layers * per_layer + embeddings + self.positions * self.hidden

    def lora_params(self, r: int) -> int:
        """Parameters added by rank-r adapters on every linear layer of every block."""
        attention = 4 * r * 2 * self.hidden
        mlp = (3 if self.gated_mlp else 2) * r * (self.hidden + self.intermediate)
        return self.layers * (attention + mlp)


@dataclass
class MemoryEstimate:
    """Bytes each part of a run needs; `total_bytes` is their sum."""

    parts: dict[str, int] = field(default_factory=dict)
    params: int = 0
    trainable_params: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        """Sum of all parts."""
        return sum(self.parts.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures (bytes) including the total."""
        return {**asdict(self), "total_bytes": self.total_bytes}

    def table(self) -> str:
        """A short human-readable table in MiB/GiB."""
        lines = [f"memory estimate ({self.params:,} params, {self.trainable_params:,} trainable)"]
        for name, size in [*self.parts.items(), ("total", self.total_bytes)]:
            lines.append(f"  {name:<22} {_human(size):>10}")
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)


def _human(size: int) -> str:
    return f"{size / GIB:.2f} GiB" if size >= GIB / 10 else f"{size / 1024**2:.1f} MiB"


def model_shape(name: str) -> ModelShape | None:
    """The shape from a model's config.json, or None when it is not available offline."""
    from alignment.training.locate import resolve_model

    path = Path(resolve_model(name)) / "config.json"
    if not path.exists():
        return None
    raw = json.loads(path.read_text())
    raw = raw.get("text_config", raw)
    hidden = int(raw.get("hidden_size", raw.get("n_embd", 768)))
    act = str(raw.get("hidden_act", raw.get("activation_function", "gelu")))
    return ModelShape(
        layers=int(raw.get("num_hidden_layers", raw.get("n_layer", 12))),
        hidden=hidden,
        heads=int(raw.get("num_attention_heads", raw.get("n_head", 12))),
        intermediate=int(raw.get("intermediate_size", raw.get("n_inner") or 4 * hidden)),
        vocab=int(raw.get("vocab_size", 32000)),
        positions=int(raw.get("n_positions", 0)),  # learned position embeddings (GPT-2) only
        gated_mlp="silu" in act or "swiglu" in act,
        tied_embeddings=bool(raw.get("tie_word_embeddings", True)),
    )


def estimate_memory(config: StepConfig) -> MemoryEstimate:
    """Estimated peak memory of running `config`: weights, LoRA, optimizer, activations and PPO's extras."""
    estimate = MemoryEstimate()
    shape = model_shape(config.model_name)
    if shape is None:
        estimate.notes.append(f"no config.json for {config.model_name!r} offline; estimate unavailable")
        return estimate
    dtype_bytes = 2 if config.bf16 else 4
    params = shape.params
    embed = shape.vocab * shape.hidden * (1 if shape.tied_embeddings else 2)
    if config.use_4bit:
        # NF4 with double quantisation: 4 bits + ~0.127 bit of scales per weight; embeddings stay unquantised.
        weights = int((params - embed) * (0.5 + 0.127 / 8)) + embed * dtype_bytes
    else:
        weights = params * dtype_bytes
    estimate.params = params
    estimate.parts["weights"] = weights

    if isinstance(config, TrainConfig):
        trainable = shape.lora_params(config.lora_r) if config.lora_r else params
        if isinstance(config, PPOConfig):
            trainable += shape.hidden + 1  # value head
        estimate.trainable_params = trainable
        if config.lora_r:
            estimate.parts["lora adapters"] = trainable * 4
        estimate.parts["gradients"] = trainable * 4
        estimate.parts["optimizer (Adam)"] = trainable * 8
        micro = config.per_device_train_batch_size
        seq = sequence_length(config)
        per_layer = seq * micro * shape.hidden * (34 + 5 * shape.heads * seq / shape.hidden)
        activations = int(per_layer * shape.layers * dtype_bytes / 2)
        logits = micro * seq * shape.vocab * 4 * 3  # logits, log-softmax and their gradient in fp32
        estimate.parts["activations"] = activations + logits
        if isinstance(config, PPOConfig | RLOOConfig):
            _add_rl_parts(estimate, config, shape, weights, dtype_bytes)
        else:
            if config.step in ("dpo", "kto") and (
                not config.lora_r or getattr(config, "reference_model", None)
            ):
                # DPO and KTO keep a reference: a second copy without adapters to disable, or when given
                # apart. ORPO has none. KTO's KL and reference passes run without gradients.
                estimate.parts["reference model"] = weights
            if config.step in ("dpo", "orpo"):
                estimate.parts["activations"] *= 2  # chosen and rejected pass together
    return estimate


def sequence_length(config: StepConfig) -> int:
    """`max_seq_length`, or what preflight will make of null: the model's positions, at most the default."""
    if config.max_seq_length is not None:
        return config.max_seq_length
    from alignment.training.locate import model_positions

    positions = model_positions(config.model_name)
    return min(positions[0], DEFAULT_MAX_SEQ_LENGTH) if positions else DEFAULT_MAX_SEQ_LENGTH


def _add_rl_parts(
    estimate: MemoryEstimate,
    config: PPOConfig | RLOOConfig,
    shape: ModelShape,
    weights: int,
    dtype_bytes: int,
) -> None:
    if not config.lora_r or config.reference_model:
        # A separate reference_model is counted at the policy's size (it reads the same tokens).
        estimate.parts["reference model"] = weights
    else:
        estimate.notes.append("reference = base with adapters disabled: no second copy")
    seq = sequence_length(config)
    batch = config.per_device_train_batch_size * config.gradient_accumulation_steps
    if isinstance(config, RLOOConfig):
        batch *= config.num_generations
    kv = 2 * shape.layers * batch * seq * shape.hidden * dtype_bytes
    estimate.parts["generation KV cache"] = kv
    rewards = 0
    from alignment.training.scoring import as_list

    for name in as_list(config.reward_model):
        reward_shape = model_shape(name)
        if reward_shape is None:
            estimate.notes.append(f"reward model {name!r} not available offline; not counted")
            continue
        rewards += reward_shape.params * dtype_bytes
    estimate.parts["reward model(s)"] = rewards
    value_model = getattr(config, "value_model", None)
    if value_model is not None:
        name = as_list(config.reward_model)[0] if value_model == "reward_model" else value_model
        critic = model_shape(name)
        if critic is not None:
            # A separate critic trains all its weights: fp32 weights, gradients and two Adam moments.
            estimate.parts["value model (critic)"] = critic.params * 16
            estimate.trainable_params += critic.params
    estimate.parts["rollout buffers"] = batch * seq * 4 * 8


def ensure_fits(estimate: MemoryEstimate, *, free_bytes: int | None = None) -> None:
    """Raise `ConfigError` when a GPU is in use and the estimate exceeds its free memory."""
    if free_bytes is None:
        import torch

        if not torch.cuda.is_available():
            return
        free_bytes, _ = torch.cuda.mem_get_info()
    if estimate.total_bytes > free_bytes:
        raise ConfigError(
            "memory",
            f"this config needs about {estimate.total_bytes / GIB:.1f} GiB but only "
            f'{free_bytes / GIB:.1f} GiB of GPU memory is free; try "use_4bit": true, a smaller '
            "per_device_train_batch_size or max_seq_length, or a smaller lora_r",
        )
