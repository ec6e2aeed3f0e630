import numpy as np
import pytest

from annotate.aggregation.drift import drift_test


class DriftTestTests:
    def test_it_finds_the_split_where_accuracy_falls(self):
        correct = np.array([True] * 40 + [False, False, True, False] * 10)
        worker = np.zeros(correct.size, dtype=np.int64)
        time = np.arange(correct.size, dtype=np.float64)
        result = drift_test(worker, correct, np.ones(correct.size, dtype=bool), time, n_workers=1)
        assert result.flagged[0]
        assert result.earlier_votes[0] == 40 and result.recent_accuracy[0] == pytest.approx(0.25)
        assert result.change_time[0] == 40.0
        assert result.late.sum() == 40

    def test_it_leaves_a_steady_annotator_alone(self):
        rng = np.random.default_rng(0)
        correct = rng.random(400) < 0.8
        result = drift_test(
            np.zeros(400, dtype=np.int64), correct, np.ones(400, dtype=bool), np.arange(400.0), n_workers=1
        )
        assert not result.flagged[0] and result.p_value[0] > 0.01
