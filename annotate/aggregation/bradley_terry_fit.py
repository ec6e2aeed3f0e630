"""The Bradley–Terry engine: comparisons as a logistic design matrix, and Newton's method on it.

``annotate.aggregation.bradley_terry`` holds the model (its docstring) and the three fits
that run through this: the plain fit, the bootstrap and the fit per connected component.
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
class Design:
    """Comparisons as a logistic regression: rows (first, second, annotator) with target P(first wins)."""

    first: npt.NDArray[np.int64]
    second: npt.NDArray[np.int64]
    annotator: npt.NDArray[np.int64] | None
    target: npt.NDArray[np.float64]
    weight: npt.NDArray[np.float64]
    n_responses: int
    n_annotators: int


def comparison_components(
    first: npt.NDArray[np.int64], second: npt.NDArray[np.int64], weight: npt.NDArray[np.float64], n: int
) -> list[npt.NDArray[np.int64]]:
    used = weight > 0
    graph = sp.coo_matrix((np.ones(int(used.sum())), (first[used], second[used])), shape=(n, n))
    n_components, membership = connected_components(graph, directed=False)
    components = [np.flatnonzero(membership == c).astype(np.int64) for c in range(n_components)]
    return sorted(components, key=lambda members: int(members[0]))


def build_design(
    winner: npt.ArrayLike,
    loser: npt.ArrayLike,
    n_responses: int | None,
    tie: npt.ArrayLike | None,
    left: npt.ArrayLike | None,
    annotator: npt.ArrayLike | None,
    n_annotators: int | None,
    weight: npt.ArrayLike | None,
) -> Design:
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
        return Design(winner_array, loser_array, None, target, weights, n_responses, 0)
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
    return Design(left_array, right_array, annotator_array, target, weights, n_responses, n_annotators)


def fit_design(
    design: Design,
    weight: npt.NDArray[np.float64],
    l2_penalty: float,
    bias_penalty: float,
    start: npt.NDArray[np.float64] | None,
    max_iter: int,
    tol: float,
) -> BradleyTerryResult:
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
    return BradleyTerryResult(
        scores=theta[:n_scores],
        left_bias=theta[n_scores:],
        log_likelihood=log_likelihood,
        n_iter=n_iter,
        converged=converged,
    )


def fit_connected(
    design: Design, l2_penalty: float, bias_penalty: float, max_iter: int = 100, tol: float = 1e-9
) -> BradleyTerryResult:
    """Fit all of `design`'s comparisons on one scale; DisconnectedComparisonGraphError when they have none."""
    components = comparison_components(design.first, design.second, design.weight, design.n_responses)
    if len(components) > 1:
        raise DisconnectedComparisonGraphError(components)
    return fit_design(design, design.weight, l2_penalty, bias_penalty, None, max_iter, tol)
