"""Bradley–Terry scores for the responses to one prompt, with per-annotator left/right bias.

Model: P(i beats j) = σ(s_i − s_j). With display positions, each comparison is
oriented left-vs-right and P(left wins) = σ(s_left − s_right + b_w), where b_w is
annotator w's additive bias towards whatever is shown on the left. This is the
bias term of NoisyBT (Bugakova et al., "Aggregation of pairwise comparisons with
reduction of biases", 2019; crowd-kit's `NoisyBradleyTerry`) in its convex
logistic form: NoisyBT mixes a skill-weighted BT coin with a biased coin, which is
not concave and needs a generic optimiser; an additive logit bias keeps the
penalised log-likelihood strictly concave, so Newton's method finds the unique
optimum in a few steps.

A tie counts as half a win for each side (target 0.5 in the logistic likelihood),
the usual convention (e.g. Davidson 1970 reduces to it when ties carry no extra
parameter). Scores are log-strengths, centred to mean 0.

`l2_penalty` is choix's `alpha`: the objective adds `l2_penalty · Σ s²`, a Gaussian
prior that keeps scores finite when a response wins (or loses) every comparison —
there the maximum-likelihood estimate is infinite. The default 1e-6 matches
`choix.opt_pairwise`. Left biases get their own, stronger `bias_penalty`, since an
"always-left" annotator would otherwise have an infinite bias.

The plain fit, the bootstrap and the fit per connected component all run the same
design matrix and Newton optimiser (``annotate.aggregation.bradley_terry_fit``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from annotate.aggregation.bradley_terry_fit import (
    BradleyTerryResult,
    Design,
    DisconnectedComparisonGraphError,
    build_design,
    comparison_components,
    fit_connected,
    fit_design,
)

__all__ = [
    "BradleyTerryBootstrap",
    "BradleyTerryComponent",
    "BradleyTerryComponents",
    "BradleyTerryResult",
    "DisconnectedComparisonGraphError",
    "bradley_terry",
    "bradley_terry_bootstrap",
    "bradley_terry_by_component",
]

DEFAULT_L2_PENALTY: Final = 1e-6
DEFAULT_BIAS_PENALTY: Final = 1e-2


@dataclass(frozen=True)
class BradleyTerryBootstrap:
    """Point estimate plus percentile bootstrap intervals over resampled comparisons."""

    estimate: BradleyTerryResult
    lower: npt.NDArray[np.float64]
    """(n_responses,) lower end of the `level` percentile interval of each score."""
    upper: npt.NDArray[np.float64]
    samples: npt.NDArray[np.float64]
    """(n_used, n_responses) centred scores of each usable bootstrap replicate."""
    level: float
    n_dropped: int
    """Replicates dropped because their resampled comparison graph was disconnected."""


def bradley_terry(
    winner: npt.ArrayLike,
    loser: npt.ArrayLike,
    *,
    n_responses: int | None = None,
    tie: npt.ArrayLike | None = None,
    left: npt.ArrayLike | None = None,
    annotator: npt.ArrayLike | None = None,
    n_annotators: int | None = None,
    weight: npt.ArrayLike | None = None,
    l2_penalty: float = DEFAULT_L2_PENALTY,
    bias_penalty: float = DEFAULT_BIAS_PENALTY,
    max_iter: int = 100,
    tol: float = 1e-9,
) -> BradleyTerryResult:
    """Return centred Bradley–Terry log-strengths (and left biases if `left` is given); raises on a disconnected graph.

    `winner[c]`/`loser[c]` index responses; with `tie[c]` True the two drew (half a
    win each; which one is called winner does not matter). `left[c]` is the response
    displayed on the left and `annotator[c]` who judged it; with them a bias per
    annotator is fitted (one shared bias if `annotator` is omitted).
    """
    design = build_design(winner, loser, n_responses, tie, left, annotator, n_annotators, weight)
    return fit_connected(design, l2_penalty, bias_penalty, max_iter, tol)


def bradley_terry_bootstrap(
    winner: npt.ArrayLike,
    loser: npt.ArrayLike,
    *,
    n_responses: int | None = None,
    tie: npt.ArrayLike | None = None,
    left: npt.ArrayLike | None = None,
    annotator: npt.ArrayLike | None = None,
    n_annotators: int | None = None,
    l2_penalty: float = DEFAULT_L2_PENALTY,
    bias_penalty: float = DEFAULT_BIAS_PENALTY,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
) -> BradleyTerryBootstrap:
    """Return the Bradley–Terry fit and percentile CIs from `n_boot` seeded resamples of the comparisons.

    All resamples are drawn at once as multinomial counts (a replicate is the same
    comparisons with integer weights), and each refit starts from the point
    estimate, so a replicate costs a couple of Newton steps. Replicates whose
    resampled graph is disconnected are dropped and counted.
    """
    if not 0.0 < level < 1.0:
        raise ValueError("level must lie strictly between 0 and 1")
    design = build_design(winner, loser, n_responses, tie, left, annotator, n_annotators, None)
    estimate = fit_connected(design, l2_penalty, bias_penalty)
    start = np.concatenate([estimate.scores, estimate.left_bias])
    rng = np.random.default_rng(seed)
    n_comparisons = design.first.size
    resample_counts = rng.multinomial(n_comparisons, np.full(n_comparisons, 1.0 / n_comparisons), size=n_boot)
    samples: list[npt.NDArray[np.float64]] = []
    for counts in resample_counts.astype(np.float64):
        if len(comparison_components(design.first, design.second, counts, design.n_responses)) > 1:
            continue
        replicate = fit_design(design, counts, l2_penalty, bias_penalty, start, 100, 1e-7)
        samples.append(replicate.scores)
    sample_array = np.array(samples).reshape(-1, design.n_responses)
    tail = (1.0 - level) / 2.0
    if sample_array.shape[0] == 0:
        lower = upper = np.full(design.n_responses, np.nan)
    else:
        lower, upper = np.quantile(sample_array, [tail, 1.0 - tail], axis=0)
    return BradleyTerryBootstrap(
        estimate=estimate,
        lower=lower,
        upper=upper,
        samples=sample_array,
        level=level,
        n_dropped=n_boot - sample_array.shape[0],
    )


@dataclass(frozen=True)
class BradleyTerryComponent:
    """One connected part of the comparison graph: the responses that can be put on one scale."""

    responses: npt.NDArray[np.int64]
    """Response indices in this component."""
    n_comparisons: int
    fit: BradleyTerryResult | None
    """Scores for `responses` (in that order, centred within the component); None for a lone pair."""

    @property
    def ranked(self) -> bool:
        return self.fit is not None


@dataclass(frozen=True)
class BradleyTerryComponents:
    """Bradley–Terry per connected component: what can be ranked, and what cannot.

    Scores of different components share no scale, so each component is fitted on its
    own. A component of two responses (one pair, however many votes) is a single
    comparison: its order is just the vote on that pair, and a Bradley–Terry score adds
    nothing, so it is reported as not ranked. With `min_responses` ≤ 2 it is fitted too.
    """

    components: list[BradleyTerryComponent]
    n_responses: int

    @property
    def connected(self) -> bool:
        return len(self.components) == 1

    @property
    def ranked(self) -> list[BradleyTerryComponent]:
        return [c for c in self.components if c.ranked]

    @property
    def unranked(self) -> list[BradleyTerryComponent]:
        return [c for c in self.components if not c.ranked]

    def summary(self) -> str:
        """One sentence saying what could and could not be ranked."""
        if not self.components:
            return "No comparisons to rank."
        if self.connected and self.components[0].ranked:
            return f"All {self.n_responses} responses are compared, directly or through others: one ranking."
        ranked = self.ranked
        lone = self.unranked
        parts = [
            f"The {self.n_responses} responses fall into {len(self.components)} groups never compared with each other."
        ]
        if ranked:
            sizes = sorted((c.responses.size for c in ranked), reverse=True)
            parts.append(
                f"{len(ranked)} group{'s' if len(ranked) != 1 else ''} of 3 or more responses "
                f"(largest {sizes[0]}) {'are' if len(ranked) != 1 else 'is'} ranked on its own scale;"
            )
        if lone:
            parts.append(
                f"{len(lone)} {'are' if len(lone) != 1 else 'is a'} lone pair{'s' if len(lone) != 1 else ''}: "
                "only the vote on the pair orders them, and no score across groups can be given."
            )
        return " ".join(parts)


def bradley_terry_by_component(
    winner: npt.ArrayLike,
    loser: npt.ArrayLike,
    *,
    n_responses: int | None = None,
    tie: npt.ArrayLike | None = None,
    left: npt.ArrayLike | None = None,
    annotator: npt.ArrayLike | None = None,
    n_annotators: int | None = None,
    weight: npt.ArrayLike | None = None,
    l2_penalty: float = DEFAULT_L2_PENALTY,
    bias_penalty: float = DEFAULT_BIAS_PENALTY,
    min_responses: int = 3,
) -> BradleyTerryComponents:
    """Fit Bradley–Terry on each connected component with at least `min_responses` responses; never raises for disconnection.

    Same arguments as `bradley_terry`. Left biases, when given, are fitted per
    component from that component's comparisons.
    """
    design = build_design(winner, loser, n_responses, tie, left, annotator, n_annotators, weight)
    components = comparison_components(design.first, design.second, design.weight, design.n_responses)
    used = design.weight > 0
    involved = np.zeros(design.n_responses, dtype=bool)
    involved[design.first[used]] = True
    involved[design.second[used]] = True
    membership = np.full(design.n_responses, -1, dtype=np.int64)
    for c, members in enumerate(components):
        membership[members] = c
    result: list[BradleyTerryComponent] = []
    for c, members in enumerate(components):
        if not involved[members].any():
            continue  # a response nobody compared: not part of any comparison
        rows = used & (membership[design.first] == c)
        n_rows = int(rows.sum())
        fit = None
        if members.size >= min_responses:
            local = np.full(design.n_responses, -1, dtype=np.int64)
            local[members] = np.arange(members.size)
            sub = Design(
                local[design.first[rows]],
                local[design.second[rows]],
                None if design.annotator is None else design.annotator[rows],
                design.target[rows],
                design.weight[rows],
                int(members.size),
                design.n_annotators,
            )
            fit = fit_design(sub, sub.weight, l2_penalty, bias_penalty, None, 100, 1e-9)
        result.append(BradleyTerryComponent(members, n_rows, fit))
    return BradleyTerryComponents(result, design.n_responses)
