import numpy as np
import pytest
from scipy.stats import binomtest

from annotate.aggregation.annotator_stats import AnnotatorStats, annotator_stats, binomial_two_sided_p_value
from annotate.aggregation.dawid_skene import dawid_skene
from annotate.aggregation.labels import NO_WINNER
from annotate.aggregation.majority import majority_vote
from annotate.simulation import WORKER_TYPES, SimulatedVotes, simulate_votes


def _stats(votes: SimulatedVotes, **kwargs) -> AnnotatorStats:
    return annotator_stats(
        votes.item, votes.worker, votes.label, flipped=votes.flipped, seconds=votes.seconds, **kwargs
    )


class AnnotatorStatsTests:
    def test_it_matches_scipy_binomtest(self):
        successes = np.array([0, 3, 10, 17, 25, 50, 7])
        trials = np.array([5, 10, 20, 20, 30, 100, 7])
        expected = [binomtest(int(k), int(n), 0.5).pvalue for k, n in zip(successes, trials, strict=True)]
        np.testing.assert_allclose(binomial_two_sided_p_value(successes, trials), expected, rtol=1e-10)
        assert np.isnan(binomial_two_sided_p_value([0], [0])[0])

    def test_it_flags_a_left_biased_annotator_and_not_a_good_one(self):
        votes = simulate_votes(
            n_items=3000, n_workers=20, worker_counts={"good": 10, "left_biased": 5, "average": 5}, seed=1
        )
        consensus = majority_vote(votes.item, votes.label, n_items=votes.n_items).winner
        stats = _stats(votes, consensus=consensus)
        left_biased = votes.worker_type == WORKER_TYPES.index("left_biased")
        good = votes.worker_type == WORKER_TYPES.index("good")
        assert np.all(stats.position_bias_p_value[left_biased] < 0.01)
        assert np.all(stats.position_bias_p_value[good] > 0.01)
        assert np.all(stats.left_share[left_biased] > 0.6)

    def test_the_median_time_is_over_the_votes_whose_time_is_known(self):
        # Worker 0: 4 s, 6 s and two unrecorded times (NaN sorts last, so a plain median would read 6 s
        # or NaN); worker 1: no time at all.
        stats = annotator_stats(
            [0, 1, 2, 3, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0],
            flipped=[False] * 5, seconds=[4.0, np.nan, 6.0, np.nan, np.nan], consensus=[0, 0, 0, 0],
        )  # fmt: skip
        assert stats.median_seconds[0] == 5.0 and np.isnan(stats.median_seconds[1])

    def test_it_computes_consensus_agreement_speed_and_gold_accuracy(self):
        # Worker 0: votes a (left, not flipped), b (left, flipped), tie; worker 1: a (flipped → right).
        item = [0, 1, 2, 0]
        worker = [0, 0, 0, 1]
        label = [0, 1, 2, 0]
        flipped = [False, True, False, True]
        seconds = [10.0, 30.0, 20.0, 5.0]
        consensus = [0, 0, NO_WINNER]
        stats = annotator_stats(
            item,
            worker,
            label,
            flipped=flipped,
            seconds=seconds,
            consensus=consensus,
            gold_item=[1],
            gold_label=[1],
        )
        np.testing.assert_array_equal(stats.votes, [3, 1])
        np.testing.assert_array_equal(stats.consensus_votes, [2, 1])
        np.testing.assert_allclose(stats.consensus_agreement, [0.5, 1.0])
        np.testing.assert_array_equal(stats.left_picks, [2, 0])
        np.testing.assert_array_equal(stats.right_picks, [0, 1])
        np.testing.assert_allclose(stats.median_seconds, [20.0, 5.0])
        np.testing.assert_array_equal(stats.gold_votes, [1, 0])
        assert stats.gold_accuracy[0] == 1.0
        assert np.isnan(stats.gold_accuracy[1])

    def test_it_takes_even_medians_and_the_dawid_skene_diagonal(self):
        votes = simulate_votes(n_items=400, n_workers=10, seed=3)
        fit = dawid_skene(votes.item, votes.worker, votes.label)
        stats = _stats(votes, consensus=fit.labels, confusion=fit.confusion)
        for worker in range(votes.n_workers):
            assert stats.median_seconds[worker] == pytest.approx(
                np.median(votes.seconds[votes.worker == worker])
            )
        assert stats.confusion_diagonal is not None
        np.testing.assert_allclose(stats.confusion_diagonal, np.diagonal(fit.confusion, axis1=1, axis2=2))
        too_fast = votes.worker_type == WORKER_TYPES.index("too_fast")
        assert np.all(stats.median_seconds[too_fast] < 10.0)
