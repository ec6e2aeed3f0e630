"""Hidden preferences for the simulated crowd of bench/loop.py: ``score(prompt, response) -> float``.

Only the simulated annotators and the scorer call these; nothing in the product imports this
module. Both are byte-level properties the tiny built-in model can learn in a few rounds.
"""

from __future__ import annotations


def lowercase(prompt: str, response: str) -> float:
    """The share of a response's letters that are lowercase (a response with no letters scores 0)."""
    letters = [c for c in response if c.isalpha()]
    return sum(c.islower() for c in letters) / len(letters) if letters else 0.0


def vowels(prompt: str, response: str) -> float:
    """The share of a response's letters that are vowels (a, e, i, o, u, either case)."""
    letters = [c for c in response if c.isalpha()]
    return sum(c in "aeiouAEIOU" for c in letters) / len(letters) if letters else 0.0
