import numpy as np

from annotate.aggregation.labels import picked_left
from annotate.simulation import WORKER_TYPES, simulate_votes, worker_type_counts


class SimulationTests:
    def test_it_is_reproducible_for_a_seed(self):
        first = simulate_votes(n_items=500, n_workers=50, seed=4)
        second = simulate_votes(n_items=500, n_workers=50, seed=4)
        np.testing.assert_array_equal(first.label, second.label)
        np.testing.assert_array_equal(first.flipped, second.flipped)
        np.testing.assert_array_equal(first.worker, second.worker)

    def test_it_assigns_k_distinct_annotators_per_item(self):
        votes = simulate_votes(n_items=2000, votes_per_item=5, n_workers=8, seed=1)
        workers_per_item = votes.worker.reshape(2000, 5)
        assert np.all(np.sort(workers_per_item, axis=1)[:, 1:] != np.sort(workers_per_item, axis=1)[:, :-1])
        np.testing.assert_array_equal(np.bincount(votes.item), 5)

    def test_it_splits_the_spammer_share(self):
        counts = worker_type_counts(1000, 0.2)
        assert counts["random"] + counts["always_left"] == 200
        assert sum(counts.values()) == 1000

    def test_it_makes_always_left_annotators_pick_the_left_response(self):
        votes = simulate_votes(n_items=500, n_workers=10, worker_counts={"always_left": 5, "good": 5}, seed=2)
        always_left = votes.worker_type[votes.worker] == WORKER_TYPES.index("always_left")
        assert np.all(picked_left(votes.label[always_left], votes.flipped[always_left]))
        assert 0.3 < votes.flipped[always_left].mean() < 0.7

    def test_it_makes_good_annotators_more_accurate_and_slower_than_too_fast_ones(self):
        votes = simulate_votes(n_items=4000, n_workers=20, worker_counts={"good": 10, "too_fast": 10}, seed=3)
        correct = votes.label == votes.true_label[votes.item]
        good = votes.worker_type[votes.worker] == WORKER_TYPES.index("good")
        assert correct[good].mean() > 0.8 > 0.55 > correct[~good].mean()
        assert np.median(votes.seconds[good]) > 5 * np.median(votes.seconds[~good])
