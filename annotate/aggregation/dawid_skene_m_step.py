"""The M-steps of the Dawid–Skene models: expected counts → confusion matrices.

``full`` normalises each annotator's counts per true label; ``one_coin`` gives each
annotator a single accuracy with errors spread uniformly over the other three labels
(Zhang, Chen, Zhou & Jordan, JMLR 17, 2016); ``left_pick`` adds a per-annotator share of
"pick the left one" answers to the full model. The clipping follows crowd-kit 1.4.2 (see
``annotate.aggregation.dawid_skene``).
"""

from __future__ import annotations

from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from annotate.aggregation.labels import LABEL_A, LABEL_B, N_LABELS

# crowd-kit's `_EPS = np.float_power(10, -10)`: the floor for confusion entries and priors.
CROWDKIT_EPS: Final = 1e-10

DawidSkeneModel = Literal["full", "one_coin", "left_pick"]
# Starting share of "picks whatever is on the left" in the left_pick model: EM cannot
# move a mixture weight away from exactly 0.
LEFT_PICK_START: Final = 0.05


def confusion_from_counts(
    counts: npt.NDArray[np.float64],
    observed: npt.NDArray[np.bool_],
    vote_total: npt.NDArray[np.float64],
    model: DawidSkeneModel,
) -> npt.NDArray[np.float64]:
    """M-step: counts[w, given, true] (expected) → error[w, given, true] = P(given | true)."""
    if model == "full":
        error = np.where(observed[:, :, None], np.maximum(counts, CROWDKIT_EPS), 0.0)
        column_sum = error.sum(axis=1, keepdims=True)
        return np.divide(error, column_sum, out=np.zeros_like(error), where=column_sum > 0)
    # One coin: the expected number of correct answers is the diagonal of the counts.
    correct = np.trace(counts, axis1=1, axis2=2)
    skill = np.divide(correct, vote_total, out=np.zeros_like(correct), where=vote_total > 0)
    wrong = (1.0 - skill) / (N_LABELS - 1)
    error = np.broadcast_to(wrong[:, None, None], counts.shape).copy()
    diagonal = np.arange(N_LABELS)
    error[:, diagonal, diagonal] = skill[:, None]
    error = np.clip(error, CROWDKIT_EPS, 1.0 - CROWDKIT_EPS)
    return np.where(observed[:, :, None], error, 0.0)


class LeftPickModel:
    """M-step of Dawid–Skene with a per-annotator "pick the left one" mixture.

    P(given | true, order) = (1 − r_w)·C_w[given, true] + r_w·[given is the left response],
    where the left response is a when A was shown on the left and b when B was. Rows
    2w and 2w+1 of the counts are annotator w with A / B on the left. One EM step for
    the mixture inside each M-step (generalised EM): the share of each left-side answer
    that came from the left-pick coin is r/q, the rest is honest. Two matrices per
    annotator would fit the same thing with twice the parameters, and measured worse.
    """

    def __init__(self, free: npt.NDArray[np.bool_]) -> None:
        self.n_workers = free.size
        # Annotators outside `free` keep r = 0: plain Dawid–Skene for them.
        self.free = free
        self.rate = np.where(free, LEFT_PICK_START, 0.0)
        self.honest: npt.NDArray[np.float64] | None = None  # (n, given, true)

    def m_step(self, counts: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """counts[2w + order, given, true] → error[2w + order, given, true]."""
        n = self.n_workers
        by_order = counts.reshape(n, 2, N_LABELS, N_LABELS)
        if self.honest is None:
            pooled = by_order.sum(axis=1)
            total = pooled.sum(axis=1, keepdims=True)
            self.honest = np.divide(pooled, total, out=np.full_like(pooled, 1.0 / N_LABELS), where=total > 0)
        left_label = (LABEL_A, LABEL_B)
        honest_counts = by_order.sum(axis=1)
        picked = np.zeros(n)
        r = self.rate
        for order, left in enumerate(left_label):
            left_counts = by_order[:, order, left, :]  # (n, true)
            mixture = (1.0 - r)[:, None] * self.honest[:, left, :] + r[:, None]
            share = np.divide(r[:, None], mixture, out=np.zeros_like(mixture), where=mixture > 0)
            from_coin = left_counts * share
            picked += from_coin.sum(axis=1)
            honest_counts[:, left, :] -= from_coin
        total_votes = by_order.sum(axis=(1, 2, 3))
        self.rate = np.where(
            self.free,
            np.clip(
                np.divide(picked, total_votes, out=np.zeros(n), where=total_votes > 0),
                CROWDKIT_EPS,
                1.0 - 1e-6,
            ),
            0.0,
        )
        honest = np.maximum(honest_counts, CROWDKIT_EPS)
        self.honest = honest / honest.sum(axis=1, keepdims=True)
        error = np.repeat(((1.0 - self.rate)[:, None, None] * self.honest)[:, None], 2, axis=1)
        for order, left in enumerate(left_label):
            error[:, order, left, :] += self.rate[:, None]
        return error.reshape(2 * n, N_LABELS, N_LABELS)
