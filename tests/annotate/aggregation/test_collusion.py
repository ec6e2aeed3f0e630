import numpy as np

from annotate.aggregation.collusion import collusion_test


class CollusionTestTests:
    def test_it_needs_items_with_a_third_vote(self):
        result = collusion_test(
            np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1]), np.array([0, 0, 1, 1]), n_items=2, n_workers=2
        )
        assert result.eligible_items == 0 and result.groups == []
