"""Preference data shaped like a Concord export: multi-turn prompts, long responses, a learnable preference."""

from __future__ import annotations

import random
from typing import Any

WORDS = [
    "the",
    "a",
    "model",
    "answer",
    "question",
    "river",
    "garden",
    "window",
    "people",
    "because",
    "which",
    "would",
    "should",
    "small",
    "large",
    "morning",
    "evening",
    "light",
    "water",
    "stone",
    "paper",
    "music",
    "simple",
    "careful",
    "quickly",
    "slowly",
    "every",
    "other",
    "after",
    "before",
    "under",
    "over",
    "between",
    "travel",
    "kitchen",
    "letter",
    "number",
    "reason",
    "example",
    "history",
    "science",
    "weather",
]


def _sentence(rng: random.Random, chars: int) -> str:
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < chars:
        words.append(rng.choice(WORDS))
    text = " ".join(words)
    return text[0].upper() + text[1:] + "."


def export_shaped_pairs(n: int, *, seed: int = 0, conversational: bool = False) -> list[dict[str, Any]]:
    """`n` pairs as the trl_standard (or, with conversational, trl_conversational) export writes them.

    Prompts are 2-6 turns (user first and last) of 40-90 characters; responses are 150-400 characters.
    The chosen response is written in lowercase, the rejected one is the same text in uppercase, so a reward
    model can learn the preference and a policy can learn to raise it.
    """
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for _ in range(n):
        turns = rng.choice((2, 4, 6)) - 1
        prompt = [
            {"role": "user" if t % 2 == 0 else "assistant", "content": _sentence(rng, rng.randint(40, 90))}
            for t in range(turns)
        ]
        text = _sentence(rng, rng.randint(150, 400))
        chosen, rejected = text.lower(), text.upper()
        if conversational:
            rows.append(
                {
                    "prompt": prompt,
                    "chosen": [{"role": "assistant", "content": chosen}],
                    "rejected": [{"role": "assistant", "content": rejected}],
                }
            )
        else:
            rows.append({"prompt": prompt, "chosen": chosen, "rejected": rejected})
    return rows
