"""The integer coding of an A/B judgment shared by every aggregation function.

Votes travel as parallel NumPy arrays, so the four choices an annotator can make
are small integers rather than strings: the coding below is the contract between
the Django models (which store the names) and the numerical code.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

LABEL_A: Final = 0
LABEL_B: Final = 1
LABEL_TIE: Final = 2
LABEL_BOTH_BAD: Final = 3
N_LABELS: Final = 4
LABEL_NAMES: Final = ("a", "b", "tie", "both_bad")

# Reported instead of a label when an item has no votes or its top vote weight is tied.
NO_WINNER: Final = -1

# How much better the chosen response is, as the reward model's margin: Llama 2's scale
# (Touvron et al., 2023, §3.2.1). The one table; importing reads it backwards.
STRENGTH_MARGIN: Final = {"significantly": 3, "better": 2, "slightly": 1, "negligibly": 0}
MARGIN_STRENGTH: Final = {margin: strength for strength, margin in STRENGTH_MARGIN.items()}


def label_code(name: str) -> int:
    """Return the integer code of a label name ("a", "b", "tie", "both_bad"); ValueError otherwise."""
    try:
        return LABEL_NAMES.index(name)
    except ValueError:
        raise ValueError(f"unknown label {name!r}; expected one of {', '.join(LABEL_NAMES)}") from None


def label_name(code: int) -> str:
    """Return the name of an integer label code; ValueError for anything outside 0..3."""
    if not 0 <= code < N_LABELS:
        raise ValueError(f"label code {code} is outside 0..{N_LABELS - 1}")
    return LABEL_NAMES[code]


def picked_left(label: npt.ArrayLike, flipped: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Return, per vote, whether the annotator picked the response displayed on the left.

    `flipped[v]` is True when response B was displayed on the left for that vote
    (the A/B order is randomised per annotator). Ties and both_bad pick no side, so
    they are False here; combine with `is_decisive` to tell "right" from "neither".
    """
    label_array = np.asarray(label)
    flipped_array = np.asarray(flipped, dtype=bool)
    return ((label_array == LABEL_A) & ~flipped_array) | ((label_array == LABEL_B) & flipped_array)


def is_decisive(label: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Return, per vote, whether it prefers one response (a or b) rather than tie or both_bad."""
    label_array = np.asarray(label)
    return (label_array == LABEL_A) | (label_array == LABEL_B)
