"""The built-in `concord/tiny` models: a GPT-2-shaped causal LM and a matching reward model.

Both use `transformers.ByT5Tokenizer` (bytes as tokens, no vocabulary file), so they are built from a
config with no network. They are saved with `save_pretrained` into a cache folder on first use and then
passed by path like any model: TRL trainers that build a reference model reload it from the model's path.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alignment.training.config import TINY_MODEL, TINY_REWARD_MODEL


@dataclass(frozen=True)
class TinyShape:
    """Size of a tiny model; the default is the benchmark's reference shape."""

    n_layer: int = 2
    n_embd: int = 64
    n_head: int = 4
    n_positions: int = 256


REFERENCE_SHAPE = TinyShape()
_VERSION = 1  # bump when the built models change, so caches are rebuilt


def cache_root() -> Path:
    """Folder the built-in models are built into (`CONCORD_MODEL_CACHE`, else ~/.cache/concord/models)."""
    env = os.environ.get("CONCORD_MODEL_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "concord" / "models"


def is_tiny(name: str) -> bool:
    """True for the ids of the built-in models."""
    return name in (TINY_MODEL, TINY_REWARD_MODEL)


def tiny_path(name: str, *, seed: int = 0) -> Path:
    """The folder of built-in model `name`, built there on first use (safe when processes race)."""
    kind = "reward" if name == TINY_REWARD_MODEL else "policy"
    folder = cache_root() / f"tiny-{kind}-v{_VERSION}-seed{seed}"
    if not (folder / "config.json").exists():
        build_tiny(folder, kind=kind, seed=seed)
    return folder


def build_tiny(
    folder: str | Path, *, kind: str = "policy", seed: int = 0, shape: TinyShape = REFERENCE_SHAPE
) -> Path:
    """Build a tiny policy ("policy") or reward model ("reward") with its tokenizer into `folder`."""
    import torch
    from transformers import ByT5Tokenizer, GPT2Config, GPT2ForSequenceClassification, GPT2LMHeadModel

    tokenizer = ByT5Tokenizer()
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=shape.n_positions,
        n_embd=shape.n_embd,
        n_layer=shape.n_layer,
        n_head=shape.n_head,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        # No dropout: PPO's ratio and KL must see the same network that sampled
        # (Huang et al. 2024, "Disable dropout").
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
    )
    config.num_labels = 1  # the reward model's single score
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model: Any = GPT2ForSequenceClassification(config) if kind == "reward" else GPT2LMHeadModel(config)
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=folder.parent))
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    try:
        staging.rename(folder)
    except OSError:  # another process built it first; theirs is identical
        shutil.rmtree(staging, ignore_errors=True)
    return folder
