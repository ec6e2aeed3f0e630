"""Benchmark decontamination: find prompts that share a long n-gram with a benchmark.

Tokenisation is deliberately simple and documented (docs/export.md): lower-case the
text and split on whitespace; punctuation stays attached to its word. An n-gram is n
consecutive tokens; the default n = 13 follows GPT-3's contamination analysis
(Brown et al., 2020, appendix C). A prompt is contaminated when any of its n-grams
(all turns joined with newlines) occurs in any line of the benchmark file. Benchmark
lines shorter than n tokens contribute nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_NGRAM = 13


def tokens(text: str) -> list[str]:
    return text.lower().split()


def _ngrams(words: list[str], n: int) -> Iterable[tuple[str, ...]]:
    return (tuple(words[i : i + n]) for i in range(len(words) - n + 1))


@dataclass(frozen=True)
class BenchmarkIndex:
    """The set of n-grams of a benchmark file, and what to record about it."""

    name: str
    sha256: str
    lines: int
    ngram: int
    grams: frozenset[int]

    def contaminates(self, prompt_text: str) -> bool:
        return any(hash(g) in self.grams for g in _ngrams(tokens(prompt_text), self.ngram))

    def record(self, dropped: int) -> dict[str, Any]:
        return {"benchmark": self.name, "benchmark_sha256": self.sha256, "lines": self.lines, "ngram": self.ngram,
                "dropped": dropped}


def benchmark_index_build(*, path: Path, ngram: int = DEFAULT_NGRAM, name: str = "") -> BenchmarkIndex:
    """Read a benchmark file line by line into a set of n-gram hashes (memory ∝ distinct n-grams)."""
    if ngram < 1:
        raise ValueError("ngram must be at least 1")
    digest = hashlib.sha256()
    # Python's tuple hash: 64 bits per n-gram instead of the tuple itself; a false match needs a
    # 64-bit collision, which is negligible at benchmark sizes (≤ 10^8 n-grams).
    grams: set[int] = set()
    lines = 0
    with path.open("rb") as handle:
        for raw in handle:
            digest.update(raw)
            lines += 1
            grams.update(hash(g) for g in _ngrams(tokens(raw.decode("utf-8", errors="replace")), ngram))
    return BenchmarkIndex(name=name or path.name, sha256=digest.hexdigest(), lines=lines, ngram=ngram, grams=frozenset(grams))


def prompt_text(turns: Any) -> str:
    """All turns of a stored prompt (a string or a list of {role, content}) joined with newlines."""
    if isinstance(turns, str):
        return turns
    return "\n".join(str(t.get("content", "")) for t in turns)
