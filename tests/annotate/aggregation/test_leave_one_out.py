import numpy as np

from annotate.aggregation.leave_one_out import agreement_with_others


class AgreementWithOthersTests:
    def test_it_scores_each_vote_against_the_other_votes_and_counts_splits_apart(self):
        # item 0: a, a (k=2 agree); item 1: a, b (k=2 split); item 2: a, a, b; item 3: a alone.
        item = np.array([0, 0, 1, 1, 2, 2, 2, 3])
        worker = np.array([0, 1, 0, 1, 0, 1, 2, 0])
        label = np.array([0, 0, 0, 1, 0, 0, 1, 0])
        result = agreement_with_others(item, worker, label, n_items=4, n_workers=3)
        # Worker 0: agrees on 0, disagrees on 1, others split (a vs b) on 2, alone on 3.
        assert result.scored.tolist() == [2, 2, 1]
        assert result.agreeing.tolist() == [1, 1, 0]
        assert result.no_consensus.tolist() == [1, 1, 0]
        np.testing.assert_allclose(result.share, [0.5, 0.5, 0.0])

    def test_skipped_votes_are_neither_scored_nor_split(self):
        item, worker, label = np.array([0, 0]), np.array([0, 1]), np.array([0, 1])
        result = agreement_with_others(
            item, worker, label, n_items=1, n_workers=2, skip=np.array([True, False])
        )
        assert result.scored.tolist() == [0, 1] and np.isnan(result.share[0])
