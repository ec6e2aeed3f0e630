"""Hidden preferences for the simulated crowd of bench/loop.py: ``score(prompt, response) -> float``.

Only the simulated annotators and the scorer call these; nothing in the product imports this
module. Both are byte-level properties the tiny built-in model can learn in a few rounds, and both
are counts rather than shares: the pretrained tiny model already writes whole sentences in lower
case, and a share (1.0 against 1.0) would make most comparisons ties, which say nothing.
"""

from __future__ import annotations

# A response has at most `response_length` bytes in the loop's plan (24): a score of 1 is 24 lowercase letters.
FULL = 24


def lowercase(prompt: str, response: str) -> float:
    """More lowercase letters is better, fewer uppercase letters too: (lower − upper) / 24, within [−1, 1]."""
    lower = sum(c.islower() for c in response)
    upper = sum(c.isupper() for c in response)
    return max(-1.0, min(1.0, (lower - upper) / FULL))


def vowels(prompt: str, response: str) -> float:
    """More vowels is better: vowels / 12 (either case), at most 1."""
    return min(1.0, sum(c in "aeiouAEIOU" for c in response) / (FULL / 2))
