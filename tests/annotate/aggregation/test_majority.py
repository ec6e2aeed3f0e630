import numpy as np

from annotate.aggregation.labels import NO_WINNER
from annotate.aggregation.majority import majority_vote


class MajorityTests:
    def test_it_reports_winner_agreement_and_threshold(self):
        # item 0: a,a,b → a with 2/3; item 1: tie,tie,tie → tie with 1.0; item 2: a,b,tie,both_bad → tied top.
        item = [0, 0, 0, 1, 1, 1, 2, 2, 2, 2]
        label = [0, 0, 1, 2, 2, 2, 0, 1, 2, 3]
        result = majority_vote(item, label, threshold=0.7)
        np.testing.assert_array_equal(result.winner, [0, 2, NO_WINNER])
        np.testing.assert_allclose(result.agreement, [2 / 3, 1.0, 0.25])
        np.testing.assert_array_equal(result.votes, [3, 3, 4])
        np.testing.assert_array_equal(result.passes, [False, True, False])

    def test_it_leaves_a_tie_in_the_vote_count_undecided(self):
        result = majority_vote([0, 0, 0, 0], [0, 0, 1, 1], threshold=0.0)
        assert result.winner[0] == NO_WINNER
        assert not result.passes[0]
        assert result.agreement[0] == 0.5

    def test_it_weights_votes_by_strength(self):
        result = majority_vote([0, 0, 0], [0, 1, 1], weight=[3.0, 1.0, 1.0], threshold=0.6)
        assert result.winner[0] == 0
        np.testing.assert_allclose(result.agreement[0], 0.6)
        assert result.passes[0]

    def test_it_marks_items_without_votes(self):
        result = majority_vote([1], [3], n_items=3)
        np.testing.assert_array_equal(result.winner, [NO_WINNER, 3, NO_WINNER])
        assert np.isnan(result.agreement[0])
        np.testing.assert_array_equal(result.votes, [0, 1, 0])
