import numpy as np
import pytest

from annotate.aggregation.dawid_skene import dawid_skene
from annotate.aggregation.flags import annotator_flags_for
from annotate.aggregation.treatment import aggregate_labels, vote_treatment
from annotate.simulation import WORKER_TYPES, simulate_votes


def _accuracy(labels: np.ndarray, truth: np.ndarray) -> float:
    return float((labels == truth).mean())


class PositionAwareDawidSkeneTests:
    @pytest.mark.parametrize("seed", [0, 1, 2])
    def test_it_beats_plain_dawid_skene_on_a_left_biased_crowd(self, seed):
        votes = simulate_votes(
            n_items=3000,
            votes_per_item=3,
            worker_counts={"good": 10, "average": 20, "position_biased": 30},
            seed=seed,
        )
        plain = dawid_skene(votes.item, votes.worker, votes.label)
        aware = dawid_skene(votes.item, votes.worker, votes.label, model="left_pick", flipped=votes.flipped)
        assert _accuracy(aware.labels, votes.true_label) > _accuracy(plain.labels, votes.true_label) + 0.004
        biased = votes.worker_type == WORKER_TYPES.index("position_biased")
        assert aware.left_pick_rate is not None
        assert np.corrcoef(aware.left_pick_rate[biased], votes.left_pick_rate[biased])[0, 1] > 0.8
        assert aware.left_pick_rate[~biased].mean() < 0.05
        history = aware.log_likelihood
        assert np.all(np.diff(history) >= -1e-9 * np.abs(history[:-1]))

    def test_it_leaves_annotators_outside_left_pick_workers_plain(self):
        votes = simulate_votes(n_items=500, n_workers=20, seed=1)
        none = np.zeros(votes.n_workers, dtype=bool)
        aware = dawid_skene(
            votes.item,
            votes.worker,
            votes.label,
            model="left_pick",
            flipped=votes.flipped,
            left_pick_workers=none,
        )
        assert aware.left_pick_rate is not None and np.all(aware.left_pick_rate == 0)

    def test_it_refuses_left_pick_without_the_display_order(self):
        with pytest.raises(ValueError, match="flipped"):
            dawid_skene([0, 1], [0, 1], [0, 1], model="left_pick")


class WorkerWeightTests:
    def test_a_zero_weight_ignores_the_annotator_like_dropping_their_votes(self):
        votes = simulate_votes(n_items=600, n_workers=30, seed=5)
        weight = np.ones(votes.n_workers)
        weight[:5] = 0.0
        kept = votes.worker >= 5
        # Only items someone with weight 1 voted on: an item voted on by ignored annotators
        # alone would still count towards the class priors.
        covered = (np.bincount(votes.item[kept], minlength=votes.n_items) > 0)[votes.item]
        item, worker, label = votes.item[covered], votes.worker[covered], votes.label[covered]
        n_items, n_workers = votes.n_items, votes.n_workers
        weighted = dawid_skene(
            item,
            worker,
            label,
            worker_weight=weight,
            n_items=n_items,
            n_workers=n_workers,
            tol=None,
            max_iter=30,
        )
        mine = worker >= 5
        dropped = dawid_skene(
            item[mine], worker[mine], label[mine], n_items=n_items, n_workers=n_workers, tol=None, max_iter=30
        )
        np.testing.assert_allclose(weighted.posteriors, dropped.posteriors, atol=1e-8)

    def test_it_refuses_weights_above_one(self):
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            dawid_skene([0, 1], [0, 1], [0, 1], worker_weight=[1.0, 2.0])


class FlaggedVoteTreatmentTests:
    def test_down_weighting_colluders_beats_keeping_and_dropping_for_dawid_skene(self):
        votes = simulate_votes(
            n_items=4000, votes_per_item=5, worker_counts={"good": 35, "average": 35, "colluding": 12}, seed=6
        )
        flags = annotator_flags_for(votes)
        accuracy = {}
        for mode in ("keep", "drop", "downweight"):
            treatment = vote_treatment(flags=flags, worker=votes.worker, mode=mode, method="dawid_skene")
            result = aggregate_labels(votes=votes, method="dawid_skene", treatment=treatment)
            accuracy[mode] = _accuracy(result.labels, votes.true_label)
        assert accuracy["downweight"] > accuracy["keep"] + 0.01
        assert accuracy["downweight"] >= accuracy["drop"]
        treatment = vote_treatment(flags=flags, worker=votes.worker, mode="downweight", method="dawid_skene")
        colluding = votes.worker_type[votes.worker] == WORKER_TYPES.index("colluding")
        assert np.all(treatment.weight[colluding] < 0.1) and np.all(treatment.weight[~colluding] == 1.0)
        assert treatment.keep.all()

    def test_it_refuses_an_unknown_mode(self):
        votes = simulate_votes(n_items=50, n_workers=6, seed=0)
        flags = annotator_flags_for(votes)
        with pytest.raises(ValueError, match="flagged mode"):
            vote_treatment(flags=flags, worker=votes.worker, mode="ignore")  # type: ignore[arg-type]
