"""Pure NumPy/SciPy aggregation and label-quality maths for A/B judgments (no Django imports).

Label coding: 0 = a, 1 = b, 2 = tie, 3 = both_bad (see `labels`). Votes are
parallel int arrays `item`, `worker`, `label`.
"""

from annotate.aggregation.agreement import (
    fleiss_kappa,
    fleiss_kappa_from_counts,
    krippendorff_alpha,
    label_counts_by_item,
)
from annotate.aggregation.annotator_stats import AnnotatorStats, annotator_stats, binomial_two_sided_p_value
from annotate.aggregation.bradley_terry import (
    BradleyTerryBootstrap,
    BradleyTerryComponent,
    BradleyTerryComponents,
    BradleyTerryResult,
    DisconnectedComparisonGraphError,
    bradley_terry,
    bradley_terry_bootstrap,
    bradley_terry_by_component,
)
from annotate.aggregation.dawid_skene import DawidSkeneResult, dawid_skene
from annotate.aggregation.labels import (
    LABEL_A,
    LABEL_B,
    LABEL_BOTH_BAD,
    LABEL_NAMES,
    LABEL_TIE,
    N_LABELS,
    NO_WINNER,
    is_decisive,
    label_code,
    label_name,
    picked_left,
)
from annotate.aggregation.majority import MajorityVoteResult, majority_vote

__all__ = [
    "LABEL_A",
    "LABEL_B",
    "LABEL_BOTH_BAD",
    "LABEL_NAMES",
    "LABEL_TIE",
    "NO_WINNER",
    "N_LABELS",
    "AnnotatorStats",
    "BradleyTerryBootstrap",
    "BradleyTerryComponent",
    "BradleyTerryComponents",
    "BradleyTerryResult",
    "DawidSkeneResult",
    "DisconnectedComparisonGraphError",
    "MajorityVoteResult",
    "annotator_stats",
    "binomial_two_sided_p_value",
    "bradley_terry",
    "bradley_terry_bootstrap",
    "bradley_terry_by_component",
    "dawid_skene",
    "fleiss_kappa",
    "fleiss_kappa_from_counts",
    "is_decisive",
    "krippendorff_alpha",
    "label_code",
    "label_counts_by_item",
    "label_name",
    "majority_vote",
    "picked_left",
]
