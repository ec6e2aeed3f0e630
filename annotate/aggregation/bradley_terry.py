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

One module although past ~350 lines: the plain fit, the bootstrap and the fit per
connected component all run the same design matrix and optimiser (``_design``, ``_fit``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import spsolve
from scipy.special import expit, log_expit

from annotate.aggregation.votes import validated_weights

DEFAULT_L2_PENALTY: Final = 1e-6
DEFAULT_BIAS_PENALTY: Final = 1e-2
# Members listed per component in the disconnected-graph message before eliding.
_MAX_LISTED: Final = 10


class DisconnectedComparisonGraphError(ValueError):
    """Raised when some responses are never compared, even indirectly, with the others.

    Scores in different components have no common scale, so any number returned
    would be an artefact of the penalty, not of the votes.
    """

    def __init__(self, components: list[npt.NDArray[np.int64]]) -> None:
        self.components = components

        def listed(members: npt.NDArray[np.int64]) -> str:
            shown = ", ".join(str(int(m)) for m in members[:_MAX_LISTED])
            return "{" + shown + (", …" if members.size > _MAX_LISTED else "") + "}"

        others = "; ".join(listed(c) for c in components[1:])
        super().__init__(
            f"comparison graph is disconnected: {len(components)} components; "
            f"responses {listed(components[0])} never compared with {others}"
        )


@dataclass(frozen=True)
class BradleyTerryResult:
    """Penalised maximum-likelihood Bradley–Terry fit."""

    scores: npt.NDArray[np.float64]
    """(n_responses,) log-strengths, mean 0; higher is preferred."""
    left_bias: npt.NDArray[np.float64]
    """(n_annotators,) additive logit bias towards the left response; empty without display positions."""
    log_likelihood: float
    """Log-likelihood of the comparisons at the estimate (without the penalty)."""
    n_iter: int
    converged: bool


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


@dataclass(frozen=True)
class _Design:
    """Comparisons as a logistic regression: rows (first, second, annotator) with target P(first wins)."""

    first: npt.NDArray[np.int64]
    second: npt.NDArray[np.int64]
    annotator: npt.NDArray[np.int64] | None
    target: npt.NDArray[np.float64]
    weight: npt.NDArray[np.float64]
    n_responses: int
    n_annotators: int


def _components(
    first: npt.NDArray[np.int64], second: npt.NDArray[np.int64], weight: npt.NDArray[np.float64], n: int
) -> list[npt.NDArray[np.int64]]:
    used = weight > 0
    graph = sp.coo_matrix((np.ones(int(used.sum())), (first[used], second[used])), shape=(n, n))
    n_components, membership = connected_components(graph, directed=False)
    components = [np.flatnonzero(membership == c).astype(np.int64) for c in range(n_components)]
    return sorted(components, key=lambda members: int(members[0]))


def _design(
    winner: npt.ArrayLike,
    loser: npt.ArrayLike,
    n_responses: int | None,
    tie: npt.ArrayLike | None,
    left: npt.ArrayLike | None,
    annotator: npt.ArrayLike | None,
    n_annotators: int | None,
    weight: npt.ArrayLike | None,
) -> _Design:
    winner_array = np.asarray(winner, dtype=np.int64)
    loser_array = np.asarray(loser, dtype=np.int64)
    if winner_array.ndim != 1 or winner_array.shape != loser_array.shape:
        raise ValueError("winner and loser must be one-dimensional and of equal length")
    if winner_array.size == 0:
        raise ValueError("no comparisons given")
    if np.any(winner_array == loser_array):
        raise ValueError("a response cannot be compared with itself (winner == loser)")
    if n_responses is None:
        n_responses = int(max(winner_array.max(), loser_array.max())) + 1
    if (
        min(winner_array.min(), loser_array.min()) < 0
        or max(winner_array.max(), loser_array.max()) >= n_responses
    ):
        raise ValueError(f"response indices must lie in 0..{n_responses - 1}")
    n_comparisons = winner_array.size
    weights = validated_weights("weight", weight, n_comparisons)
    tie_array = np.zeros(n_comparisons, dtype=bool) if tie is None else np.asarray(tie, dtype=bool)
    if tie_array.shape != winner_array.shape:
        raise ValueError("tie must have one entry per comparison")
    if left is None:
        if annotator is not None:
            raise ValueError("annotator is only used with left (the display position)")
        target = np.where(tie_array, 0.5, 1.0)
        return _Design(winner_array, loser_array, None, target, weights, n_responses, 0)
    left_array = np.asarray(left, dtype=np.int64)
    if left_array.shape != winner_array.shape or np.any(
        (left_array != winner_array) & (left_array != loser_array)
    ):
        raise ValueError("left must name, per comparison, the winner or the loser")
    annotator_array = (
        np.zeros(n_comparisons, dtype=np.int64)
        if annotator is None
        else np.asarray(annotator, dtype=np.int64)
    )
    if annotator_array.shape != winner_array.shape or (annotator_array.size and annotator_array.min() < 0):
        raise ValueError("annotator must hold one non-negative index per comparison")
    if n_annotators is None:
        n_annotators = int(annotator_array.max()) + 1
    if annotator_array.max() >= n_annotators:
        raise ValueError(f"annotator indices must lie in 0..{n_annotators - 1}")
    right_array = np.where(left_array == winner_array, loser_array, winner_array)
    target = np.where(tie_array, 0.5, (left_array == winner_array).astype(np.float64))
    return _Design(left_array, right_array, annotator_array, target, weights, n_responses, n_annotators)


def _fit(
    design: _Design,
    weight: npt.NDArray[np.float64],
    l2_penalty: float,
    bias_penalty: float,
    start: npt.NDArray[np.float64] | None,
    max_iter: int,
    tol: float,
) -> tuple[npt.NDArray[np.float64], float, int, bool]:
    """Newton's method with step halving on the penalised negative log-likelihood."""
    n_scores, n_bias = design.n_responses, design.n_annotators
    rows = np.arange(design.first.size)
    row_index = [rows, rows]
    column_index = [design.first, design.second]
    values = [np.ones(rows.size), -np.ones(rows.size)]
    if design.annotator is not None:
        row_index.append(rows)
        column_index.append(n_scores + design.annotator)
        values.append(np.ones(rows.size))
    n_params = n_scores + n_bias
    matrix = sp.csr_matrix(
        (np.concatenate(values), (np.concatenate(row_index), np.concatenate(column_index))),
        shape=(rows.size, n_params),
    )
    penalty = np.concatenate([np.full(n_scores, l2_penalty), np.full(n_bias, bias_penalty)])
    # Without a score penalty the likelihood is shift-invariant; pin s_0 = 0 and centre afterwards.
    free = np.ones(n_params, dtype=bool)
    if l2_penalty == 0.0:
        free[0] = False
    matrix_free = matrix[:, np.flatnonzero(free)].tocsc()
    target = design.target

    def objective(theta: npt.NDArray[np.float64]) -> float:
        logit = matrix @ theta
        log_likelihood = weight @ (target * log_expit(logit) + (1.0 - target) * log_expit(-logit))
        return float(-log_likelihood + penalty @ theta**2)

    theta = np.zeros(n_params) if start is None else start.copy()
    if not free[0]:
        theta[:n_scores] -= theta[0]
    current = objective(theta)
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - n_iter is reported
        probability = expit(matrix @ theta)
        gradient = matrix_free.T @ (weight * (probability - target)) + 2.0 * penalty[free] * theta[free]
        curvature = weight * probability * (1.0 - probability)
        hessian = (matrix_free.T @ sp.diags(curvature) @ matrix_free + sp.diags(2.0 * penalty[free])).tocsc()
        step = np.atleast_1d(spsolve(hessian, gradient))
        scale = 1.0
        while True:
            candidate = theta.copy()
            candidate[free] -= scale * step
            value = objective(candidate)
            if value <= current or scale < 1e-10:
                break
            scale /= 2.0
        change = float(np.max(np.abs(candidate - theta)))
        theta, current = candidate, value
        if change < tol:
            converged = True
            break
    theta[:n_scores] -= theta[:n_scores].mean()
    logit = matrix @ theta
    log_likelihood = float(weight @ (target * log_expit(logit) + (1.0 - target) * log_expit(-logit)))
    return theta, log_likelihood, n_iter, converged


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
    design = _design(winner, loser, n_responses, tie, left, annotator, n_annotators, weight)
    components = _components(design.first, design.second, design.weight, design.n_responses)
    if len(components) > 1:
        raise DisconnectedComparisonGraphError(components)
    theta, log_likelihood, n_iter, converged = _fit(
        design, design.weight, l2_penalty, bias_penalty, None, max_iter, tol
    )
    return BradleyTerryResult(
        scores=theta[: design.n_responses],
        left_bias=theta[design.n_responses :],
        log_likelihood=log_likelihood,
        n_iter=n_iter,
        converged=converged,
    )


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
    design = _design(winner, loser, n_responses, tie, left, annotator, n_annotators, None)
    components = _components(design.first, design.second, design.weight, design.n_responses)
    if len(components) > 1:
        raise DisconnectedComparisonGraphError(components)
    theta, log_likelihood, n_iter, converged = _fit(
        design, design.weight, l2_penalty, bias_penalty, None, 100, 1e-9
    )
    estimate = BradleyTerryResult(
        scores=theta[: design.n_responses],
        left_bias=theta[design.n_responses :],
        log_likelihood=log_likelihood,
        n_iter=n_iter,
        converged=converged,
    )
    rng = np.random.default_rng(seed)
    n_comparisons = design.first.size
    resample_counts = rng.multinomial(n_comparisons, np.full(n_comparisons, 1.0 / n_comparisons), size=n_boot)
    samples: list[npt.NDArray[np.float64]] = []
    for counts in resample_counts.astype(np.float64):
        if len(_components(design.first, design.second, counts, design.n_responses)) > 1:
            continue
        replicate, _, _, _ = _fit(design, counts, l2_penalty, bias_penalty, theta, 100, 1e-7)
        samples.append(replicate[: design.n_responses])
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
    design = _design(winner, loser, n_responses, tie, left, annotator, n_annotators, weight)
    components = _components(design.first, design.second, design.weight, design.n_responses)
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
            sub = _Design(
                local[design.first[rows]],
                local[design.second[rows]],
                None if design.annotator is None else design.annotator[rows],
                design.target[rows],
                design.weight[rows],
                int(members.size),
                design.n_annotators,
            )
            theta, log_likelihood, n_iter, converged = _fit(
                sub, sub.weight, l2_penalty, bias_penalty, None, 100, 1e-9
            )
            fit = BradleyTerryResult(
                theta[: members.size], theta[members.size :], log_likelihood, n_iter, converged
            )
        result.append(BradleyTerryComponent(members, n_rows, fit))
    return BradleyTerryComponents(result, design.n_responses)
