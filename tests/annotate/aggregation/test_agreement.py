import krippendorff
import numpy as np
import pytest

from annotate.aggregation.agreement import fleiss_kappa, fleiss_kappa_from_counts, krippendorff_alpha

# Fleiss' κ worked example (Wikipedia, "Fleiss' kappa"): 10 subjects, 14 raters, 5 categories, κ ≈ 0.210.
WIKIPEDIA_TABLE = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


class AgreementTests:
    def test_it_reproduces_the_wikipedia_fleiss_kappa_example(self):
        assert fleiss_kappa_from_counts(WIKIPEDIA_TABLE) == pytest.approx(0.2099, abs=5e-4)

    def test_it_computes_fleiss_kappa_from_votes_by_hand(self):
        # 3 items × 3 raters: (a,a,a), (a,a,b), (b,b,b).
        # P_i = 1, 1/3, 1 → P̄ = 7/9; p = (5/9, 4/9) → P_e = 41/81; κ = (63/81 − 41/81)/(40/81) = 0.55.
        item = [0, 0, 0, 1, 1, 1, 2, 2, 2]
        label = [0, 0, 0, 0, 0, 1, 1, 1, 1]
        assert fleiss_kappa(item, label) == pytest.approx(0.55)

    def test_it_skips_items_with_a_single_rater_for_fleiss_kappa(self):
        item = [0, 0, 0, 1, 1, 1, 2, 2, 2, 3]
        label = [0, 0, 0, 0, 0, 1, 1, 1, 1, 3]
        assert fleiss_kappa(item, label) == pytest.approx(0.55)

    def test_it_matches_the_krippendorff_package_on_a_hand_checked_case(self):
        # Krippendorff (2011) "Computing Krippendorff's Alpha-Reliability", nominal example: α = 0.743.
        reliability = np.array(
            [
                [1, 2, 3, 3, 2, 1, 4, 1, 2, np.nan, np.nan, np.nan],
                [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, np.nan, 3],
                [np.nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, np.nan],
                [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, np.nan],
            ]
        )
        expected = krippendorff.alpha(reliability_data=reliability, level_of_measurement="nominal")
        assert expected == pytest.approx(0.743, abs=1e-3)
        # Our coding has four labels, the example five: compare on the example without value 5.
        coder, unit = np.nonzero(~np.isnan(reliability))
        values = reliability[coder, unit].astype(int)
        keep = values <= 4
        ours = krippendorff_alpha(unit[keep], values[keep] - 1)
        subset = np.where(reliability <= 4, reliability, np.nan)
        assert ours == pytest.approx(
            krippendorff.alpha(reliability_data=subset, level_of_measurement="nominal"), abs=1e-12
        )

    def test_it_matches_the_krippendorff_package_on_simulated_votes(self):
        rng = np.random.default_rng(0)
        item = np.repeat(np.arange(40), 3)
        coder = np.tile(np.arange(3), 40)
        truth = rng.integers(0, 4, 40)
        label = np.where(rng.random(item.size) < 0.7, truth[item], rng.integers(0, 4, item.size))
        reliability = np.full((3, 40), np.nan)
        reliability[coder, item] = label
        expected = krippendorff.alpha(reliability_data=reliability, level_of_measurement="nominal")
        assert krippendorff_alpha(item, label) == pytest.approx(expected, abs=1e-12)

    def test_it_returns_nan_when_alpha_is_undefined(self):
        assert np.isnan(krippendorff_alpha([0, 0, 1, 1], [2, 2, 2, 2]))
