"""Small statistics of the rounds: Wilson intervals for win rates, a Bradley–Terry ladder of policy versions."""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile


@dataclass(frozen=True)
class WinRate:
    wins: float
    n: int
    rate: float | None
    low: float | None
    high: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        return {"wins": self.wins, "n": self.n, "rate": self.rate, "low": self.low, "high": self.high}


def wilson(wins: float, n: int, z: float = Z95) -> WinRate:
    """The share `wins / n` with its Wilson score interval (Wilson 1927); no rate for n = 0."""
    if n <= 0:
        return WinRate(wins=0, n=0, rate=None, low=None, high=None)
    p = wins / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return WinRate(wins=wins, n=n, rate=p, low=max(0.0, centre - half), high=min(1.0, centre + half))


def version_ladder(games: list[tuple[int, int, bool]], versions: list[int]) -> dict[int, float | None]:
    """Bradley–Terry log-strengths of policy versions from (winner, loser, tie) games; None where unconnected.

    Versions outside the largest connected group of games get None: their strength relative to the
    others is not identified by any comparison.
    """
    from annotate.aggregation.bradley_terry import bradley_terry

    index = {v: i for i, v in enumerate(versions)}
    played = [(index[w], index[lo], tie) for w, lo, tie in games if w in index and lo in index and w != lo]
    out: dict[int, float | None] = {v: None for v in versions}
    if not played:
        return out
    # Largest connected component by union-find, so one isolated version does not void the ladder.
    parent = list(range(len(versions)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for w, lo, _ in played:
        parent[root(w)] = root(lo)
    sizes: dict[int, int] = {}
    for w, _, _ in played:
        sizes[root(w)] = sizes.get(root(w), 0) + 1
    main = max(sizes, key=lambda r: sizes[r])
    members = sorted({i for g in played for i in g[:2] if root(i) == main})
    local = {m: j for j, m in enumerate(members)}
    kept = [(local[w], local[lo], tie) for w, lo, tie in played if root(w) == main]
    fit = bradley_terry(
        [w for w, _, _ in kept],
        [lo for _, lo, _ in kept],
        n_responses=len(members),
        tie=[t for _, _, t in kept],
    )
    for m, j in local.items():
        out[versions[m]] = float(fit.scores[j])
    return out
