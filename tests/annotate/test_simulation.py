"""The adversarial crowd types of annotate.simulation: drifting, colluding and position-biased annotators."""

import numpy as np
import pytest

from annotate.aggregation.labels import picked_left
from annotate.simulation import COLLUSION_WRONG_RATE, WORKER_TYPES, simulate_votes


def _type(name: str) -> int:
    return WORKER_TYPES.index(name)


class SimulationTests:
    def test_it_gives_a_crowd_without_the_new_types_the_votes_it_had_before(self):
        # The new draws come from a second generator: these counts are the old simulator's.
        votes = simulate_votes(n_items=300, n_workers=30, seed=11)
        again = simulate_votes(n_items=300, n_workers=30, seed=11)
        np.testing.assert_array_equal(votes.label, again.label)
        assert np.all(votes.group == -1) and np.all(np.isnan(votes.drift_at))
        assert votes.time.shape == votes.label.shape and 0 <= votes.time.min() <= votes.time.max() < 1

    def test_it_makes_drifting_annotators_careless_after_their_turning_point(self):
        votes = simulate_votes(
            n_items=6000, votes_per_item=3, worker_counts={"good": 20, "drifting": 20}, seed=5
        )
        correct = votes.label == votes.true_label[votes.item]
        drifter = votes.worker_type[votes.worker] == _type("drifting")
        order = np.lexsort((votes.time, votes.worker))
        rank = np.empty(votes.worker.size)
        count = np.bincount(votes.worker)
        rank[order] = np.arange(order.size) - (np.cumsum(count) - count)[votes.worker[order]]
        late = drifter & (rank / count[votes.worker] >= votes.drift_at[votes.worker])
        assert correct[drifter & ~late].mean() > 0.8
        assert correct[late].mean() < 0.45
        assert np.all(votes.drift_at[votes.worker_type == _type("drifting")] >= 0.3)

    def test_it_puts_colluding_groups_together_on_the_items_they_attack_with_one_answer(self):
        votes = simulate_votes(
            n_items=4000,
            votes_per_item=5,
            worker_counts={"good": 30, "colluding": 8},
            collusion_group_size=4,
            seed=2,
        )
        colluders = np.flatnonzero(votes.worker_type == _type("colluding"))
        assert sorted(np.unique(votes.group[colluders]).tolist()) == [0, 1]
        assert np.all(votes.group[votes.worker_type != _type("colluding")] == -1)
        by_item = votes.worker.reshape(votes.n_items, 5)
        labels = votes.label.reshape(votes.n_items, 5)
        attacked = np.isin(by_item, colluders).any(axis=1)
        # A group takes 3 of the 5 slots of an item it attacks, its members all give one answer.
        assert np.all(np.isin(by_item[attacked, :3], colluders))
        assert not np.isin(by_item[attacked, 3:], colluders).any()
        assert np.all(labels[attacked, :3] == labels[attacked, :1])
        groups = votes.group[by_item[attacked, :3]]
        assert np.all(groups == groups[:, :1])
        wrong = labels[attacked, 0] != votes.true_label[attacked]
        assert wrong.mean() == pytest.approx(COLLUSION_WRONG_RATE, abs=0.05)

    def test_it_draws_position_bias_of_varying_strength(self):
        votes = simulate_votes(n_items=3000, worker_counts={"position_biased": 20, "good": 10}, seed=3)
        biased = votes.worker_type == _type("position_biased")
        rates = votes.left_pick_rate[biased]
        assert rates.min() >= 0.2 and rates.max() <= 0.6 and rates.max() - rates.min() > 0.2
        left = picked_left(votes.label, votes.flipped)
        mine = votes.worker_type[votes.worker] == _type("position_biased")
        assert left[mine].mean() > left[~mine].mean() + 0.1

    def test_it_refuses_a_crowd_of_colluders_only(self):
        with pytest.raises(ValueError, match="colluders only"):
            simulate_votes(n_items=10, worker_counts={"colluding": 6})
