import choix
import numpy as np
import pytest

from annotate.aggregation.bradley_terry import (
    DisconnectedComparisonGraphError,
    bradley_terry,
    bradley_terry_bootstrap,
    bradley_terry_by_component,
)
from annotate.simulated_comparisons import simulate_comparisons

TRUE_SCORES = [1.0, 0.5, 0.0, -0.3, -1.2]


class BradleyTerryTests:
    def test_it_equals_choix_ilsr_up_to_a_shift(self):
        comparisons = simulate_comparisons(
            true_scores=TRUE_SCORES, n_comparisons=300, left_bias=[0.0], seed=1
        )
        data = list(zip(comparisons.winner.tolist(), comparisons.loser.tolist(), strict=True))
        expected = choix.ilsr_pairwise(5, data, tol=1e-12, max_iter=1000)
        result = bradley_terry(comparisons.winner, comparisons.loser, l2_penalty=0.0)
        # Tolerance 1e-8: both solve the same ML problem to ~1e-12; choix's scores are not centred.
        np.testing.assert_allclose(result.scores, expected - expected.mean(), atol=1e-8)
        assert result.converged

    def test_it_equals_choix_opt_pairwise_with_the_same_penalty(self):
        comparisons = simulate_comparisons(true_scores=TRUE_SCORES, n_comparisons=60, left_bias=[0.0], seed=2)
        data = list(zip(comparisons.winner.tolist(), comparisons.loser.tolist(), strict=True))
        expected = choix.opt_pairwise(5, data, alpha=0.01, tol=1e-10)
        result = bradley_terry(comparisons.winner, comparisons.loser, l2_penalty=0.01)
        # choix's Newton-CG stops at xtol; 1e-6 is well above that and far below any meaningful score gap.
        np.testing.assert_allclose(result.scores, expected - expected.mean(), atol=1e-6)

    def test_it_counts_a_tie_as_half_a_win_each_way(self):
        comparisons = simulate_comparisons(
            true_scores=TRUE_SCORES, n_comparisons=200, left_bias=[0.0], seed=3
        )
        tie = np.zeros(200, dtype=bool)
        tie[:40] = True
        result = bradley_terry(comparisons.winner, comparisons.loser, tie=tie, l2_penalty=0.0)
        # Same likelihood ×2: every decisive comparison twice, every tie once each way.
        decisive = list(zip(comparisons.winner[~tie].tolist(), comparisons.loser[~tie].tolist(), strict=True))
        ties = list(zip(comparisons.winner[tie].tolist(), comparisons.loser[tie].tolist(), strict=True))
        data = decisive * 2 + ties + [(loser, winner) for winner, loser in ties]
        expected = choix.ilsr_pairwise(5, data, tol=1e-12, max_iter=1000)
        np.testing.assert_allclose(result.scores, expected - expected.mean(), atol=1e-8)

    def test_it_recovers_left_bias_of_simulated_annotators(self):
        bias = [1.5] * 4 + [0.0] * 12
        comparisons = simulate_comparisons(
            true_scores=[*TRUE_SCORES, 0.2], n_comparisons=6000, left_bias=bias, seed=4
        )
        result = bradley_terry(
            comparisons.winner, comparisons.loser, left=comparisons.left, annotator=comparisons.annotator
        )
        assert np.all(np.abs(result.left_bias[:4] - 1.5) < 0.4)
        assert np.all(np.abs(result.left_bias[4:]) < 0.35)
        np.testing.assert_allclose(result.scores, comparisons.true_scores, atol=0.15)

    def test_it_gives_bootstrap_intervals_that_contain_the_estimate_and_narrow_with_more_data(self):
        small = simulate_comparisons(true_scores=TRUE_SCORES, n_comparisons=150, left_bias=[0.0], seed=5)
        large = simulate_comparisons(true_scores=TRUE_SCORES, n_comparisons=1500, left_bias=[0.0], seed=5)
        small_fit = bradley_terry_bootstrap(small.winner, small.loser, n_boot=150, seed=1)
        large_fit = bradley_terry_bootstrap(large.winner, large.loser, n_boot=150, seed=1)
        for fit in (small_fit, large_fit):
            assert np.all(fit.lower <= fit.estimate.scores)
            assert np.all(fit.estimate.scores <= fit.upper)
        assert np.all(large_fit.upper - large_fit.lower < 0.6 * (small_fit.upper - small_fit.lower))

    def test_it_draws_the_same_bootstrap_for_the_same_seed(self):
        comparisons = simulate_comparisons(
            true_scores=TRUE_SCORES, n_comparisons=100, left_bias=[0.0], seed=6
        )
        first = bradley_terry_bootstrap(comparisons.winner, comparisons.loser, n_boot=30, seed=9)
        second = bradley_terry_bootstrap(comparisons.winner, comparisons.loser, n_boot=30, seed=9)
        np.testing.assert_array_equal(first.samples, second.samples)

    def test_it_raises_a_specific_error_for_a_disconnected_graph(self):
        with pytest.raises(DisconnectedComparisonGraphError) as raised:
            bradley_terry([0, 1, 2], [1, 0, 3])
        assert str(raised.value) == (
            "comparison graph is disconnected: 2 components; responses {0, 1} never compared with {2, 3}"
        )
        assert [members.tolist() for members in raised.value.components] == [[0, 1], [2, 3]]

    def test_it_names_a_response_that_was_never_compared(self):
        with pytest.raises(
            DisconnectedComparisonGraphError,
            match=r"3 components; responses \{0, 1\} never compared with \{2\}; \{3\}",
        ):
            bradley_terry([0], [1], n_responses=4)


class BradleyTerryByComponentTests:
    def test_it_reports_lone_pairs_instead_of_raising_on_a_disconnected_graph(self):
        # Every comparison its own pair of responses, plus one group of three compared in a cycle.
        winner = [0, 2, 4, 5, 6, 4, 5]
        loser = [1, 3, 5, 6, 4, 6, 6]
        result = bradley_terry_by_component(winner, loser)
        assert not result.connected and len(result.components) == 3
        assert [c.responses.tolist() for c in result.unranked] == [[0, 1], [2, 3]]
        (group,) = result.ranked
        assert group.responses.tolist() == [4, 5, 6] and group.n_comparisons == 5
        assert group.fit is not None and group.fit.scores[0] > group.fit.scores[2]
        assert group.fit.scores.mean() == pytest.approx(0.0, abs=1e-9)
        assert "2 are lone pairs" in result.summary() and "1 group of 3 or more" in result.summary()

    def test_it_matches_the_plain_fit_on_a_connected_graph(self):
        comparisons = simulate_comparisons(
            true_scores=[1.0, 0.0, -1.0, 0.5], n_comparisons=400, left_bias=[0.0]
        )
        whole = bradley_terry(comparisons.winner, comparisons.loser)
        split = bradley_terry_by_component(comparisons.winner, comparisons.loser)
        assert split.connected and split.components[0].fit is not None
        np.testing.assert_allclose(split.components[0].fit.scores, whole.scores, atol=1e-8)
        assert split.summary().startswith("All 4 responses")
