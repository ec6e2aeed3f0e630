"""The built-in `concord/tiny` models: a small pretrained GPT-2-shaped causal LM and a matching reward model.

Both use `transformers.ByT5Tokenizer` (bytes as tokens, no vocabulary file), so they are built from a
config with no network. They are saved with `save_pretrained` into a cache folder on first use and then
passed by path like any model: TRL trainers that build a reference model reload it from the model's path.

The policy is *pretrained* at build time, like the base models users start from: a random network samples
random bytes, which no reward model trained on text tells apart, so PPO from it cannot raise a reward
learnt from real data (issue 13). A few hundred steps on dialogues generated here from word lists (both
the HH transcript form and the `role: content` form `prompt_text` writes, sentences in lower, upper and
sentence case) make its samples text-like, and varied in the way preference data varies. The reward model
stays random-init: the reward step trains it.
"""

from __future__ import annotations

import os
import random
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


@dataclass(frozen=True)
class Pretraining:
    """How the built-in policy is pretrained: steps of `batch_size` blocks of the model's positions."""

    steps: int = 300
    batch_size: int = 16
    learning_rate: float = 3e-3


REFERENCE_SHAPE = TinyShape()
PRETRAINING = Pretraining()
_VERSION = 2  # bump when the built models change, so caches are rebuilt (2: the policy is pretrained)

_WORD_TEXT = (
    "the a an this that some every other many few people person friend child teacher doctor city house "
    "garden river window kitchen road book letter story song music water light stone paper morning evening "
    "night day week year weather science history reason example question answer problem idea plan time "
    "is are was were has have can could would should will might must do does did make makes made take "
    "give find think know want need help tell ask try use read write walk cook learn build open close "
    "good new old small large long short quick slow simple careful kind warm cold bright quiet easy hard "
    "and but or because so if when while after before under over between with without about from into "
    "very often always never really quite quickly slowly carefully again also just still here there"
)
_WORDS = _WORD_TEXT.split()
_QUESTIONS = ("how do i", "what is", "why does", "can you tell me", "where can i find", "should i", "who")


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
    folder: str | Path,
    *,
    kind: str = "policy",
    seed: int = 0,
    shape: TinyShape = REFERENCE_SHAPE,
    pretraining: Pretraining | None = PRETRAINING,
) -> Path:
    """Build a tiny policy ("policy", pretrained unless `pretraining` is None) or reward model ("reward",
    random-init) with its tokenizer into `folder`. The same seed builds the same weights."""
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
        if kind == "policy" and pretraining is not None:
            pretrain(model, tokenizer, seed=seed, pretraining=pretraining)
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


def pretrain(model: Any, tokenizer: Any, *, seed: int, pretraining: Pretraining = PRETRAINING) -> None:
    """Train `model` (a causal LM) in place on `pretraining_corpus` packed into blocks of its positions."""
    import torch

    block = model.config.n_positions
    rng = random.Random(seed)
    eos = int(tokenizer.eos_token_id)
    stream: list[int] = []
    needed = pretraining.steps * pretraining.batch_size * block
    while len(stream) < needed:
        for text in pretraining_corpus(256, rng=rng):
            stream += [*tokenizer(text, add_special_tokens=False)["input_ids"], eos]
    data = torch.tensor(stream[:needed]).view(pretraining.steps, pretraining.batch_size, block)
    optimizer = torch.optim.AdamW(model.parameters(), lr=pretraining.learning_rate, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / 20) * max(0.0, 1 - step / pretraining.steps)
    )
    # One thread: the same seed must give the same weights on every machine, and CPU kernels split their
    # sums differently by thread count.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model.train()
        for batch in data:
            loss = model(input_ids=batch, labels=batch).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
    finally:
        torch.set_num_threads(threads)
        model.eval()


def pretraining_corpus(n: int, *, rng: random.Random) -> list[str]:
    """`n` English-like dialogues, half as HH transcripts ("\\n\\nHuman: …\\n\\nAssistant: …"), half as the
    'user: …' lines `rows.prompt_text` writes; 1-3 exchanges, each sentence in lower, upper or sentence case."""
    out = []
    for _ in range(n):
        hh = rng.random() < 0.5
        turns = []
        for _exchange in range(rng.randint(1, 3)):
            question = _sentence(rng, rng.randint(20, 90), question=True)
            answer = " ".join(_sentence(rng, rng.randint(30, 120)) for _ in range(rng.randint(1, 3)))
            turns += [("Human" if hh else "user", question), ("Assistant" if hh else "assistant", answer)]
        if hh:
            out.append("".join(f"\n\n{role}: {text}" for role, text in turns))
        else:
            out.append("\n".join(f"{role}: {text}" for role, text in turns))
    return out


def _sentence(rng: random.Random, chars: int, *, question: bool = False) -> str:
    words = [rng.choice(_QUESTIONS)] if question else []
    while sum(len(w) + 1 for w in words) < chars:
        words.append(rng.choice(_WORDS))
    text = " ".join(words) + ("?" if question else ".")
    case = rng.random()
    if case < 1 / 3:
        return text.upper()
    if case < 2 / 3:
        return text[0].upper() + text[1:]
    return text
