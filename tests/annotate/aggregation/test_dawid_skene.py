import importlib
import warnings

import numpy as np
import pandas as pd
import pytest
from crowdkit.aggregation import DawidSkene, OneCoinDawidSkene

from annotate.aggregation.dawid_skene import dawid_skene
from annotate.aggregation.majority import majority_vote
from annotate.simulation import simulate_votes

CROWDKIT_MODELS = [("full", DawidSkene), ("one_coin", OneCoinDawidSkene)]


def crowdkit_posteriors(model_class, votes, **options) -> tuple[np.ndarray, int]:
    frame = pd.DataFrame({"task": votes.item, "worker": votes.worker, "label": votes.label})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # crowd-kit 1.4.2 trips pandas 3 deprecation warnings.
        fitted = model_class(**options).fit(frame)
    probas = fitted.probas_.reindex(index=range(votes.n_items), columns=range(4)).to_numpy()
    return probas, len(fitted.loss_history_)


class DawidSkeneTests:
    @pytest.mark.parametrize(("model", "model_class"), CROWDKIT_MODELS)
    def test_it_matches_crowdkit_posteriors_for_a_fixed_number_of_iterations(self, model, model_class):
        votes = simulate_votes(n_items=600, n_workers=40, seed=3)
        expected, _ = crowdkit_posteriors(model_class, votes, n_iter=25, tol=-np.inf)
        result = dawid_skene(votes.item, votes.worker, votes.label, model=model, max_iter=25, tol=None)
        assert result.n_iter == 25
        np.testing.assert_allclose(result.posteriors, expected, atol=1e-4)

    @pytest.mark.parametrize(("model", "model_class"), CROWDKIT_MODELS)
    def test_it_stops_where_crowdkit_stops_in_compatible_mode(self, model, model_class):
        votes = simulate_votes(n_items=600, n_workers=40, seed=4)
        expected, crowdkit_iterations = crowdkit_posteriors(model_class, votes)
        result = dawid_skene(votes.item, votes.worker, votes.label, model=model, crowdkit_compatible=True)
        assert result.n_iter == crowdkit_iterations
        np.testing.assert_allclose(result.posteriors, expected, atol=1e-4)

    def test_it_matches_crowdkit_with_gold_labels(self):
        votes = simulate_votes(n_items=600, n_workers=40, seed=5)
        gold = np.arange(0, votes.n_items, 5)
        frame = pd.DataFrame({"task": votes.item, "worker": votes.worker, "label": votes.label})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitted = DawidSkene(n_iter=20, tol=-np.inf).fit(
                frame, pd.Series(votes.true_label[gold], index=gold)
            )
        assert fitted.probas_ is not None
        expected = fitted.probas_.reindex(index=range(votes.n_items), columns=range(4)).to_numpy()
        result = dawid_skene(
            votes.item,
            votes.worker,
            votes.label,
            gold_item=gold,
            gold_label=votes.true_label[gold],
            max_iter=20,
            tol=None,
        )
        np.testing.assert_allclose(result.posteriors, expected, atol=1e-4)

    @pytest.mark.parametrize("model", ["full", "one_coin"])
    @pytest.mark.parametrize("seed", [0, 1, 2, 3])
    def test_it_never_decreases_the_log_likelihood(self, model, seed):
        votes = simulate_votes(n_items=800, n_workers=30, spammer_share=0.3, seed=seed)
        gold = np.arange(0, votes.n_items, 9) if seed % 2 else None
        result = dawid_skene(
            votes.item,
            votes.worker,
            votes.label,
            model=model,
            gold_item=gold,
            gold_label=None if gold is None else votes.true_label[gold],
            max_iter=60,
            tol=None,
        )
        history = result.log_likelihood
        assert history.size == 60
        # Allowed slack: float64 rounding of a sum over ~800 items (≈1e-12 relative) — not an EM decrease.
        slack = 1e-11 * np.abs(history[:-1])
        assert np.all(np.diff(history) >= -slack), np.diff(history).min()
        assert history[-1] > history[0]

    def test_it_keeps_gold_items_at_their_gold_label_against_unanimous_votes(self):
        votes = simulate_votes(n_items=500, n_workers=20, worker_counts={"good": 15, "average": 5}, seed=7)
        label = votes.label.copy()
        # Item 0: everyone says "a", the gold answer is "b".
        label[votes.item == 0] = 0
        result = dawid_skene(votes.item, votes.worker, label, gold_item=[0], gold_label=[1])
        np.testing.assert_array_equal(result.posteriors[0], [0.0, 1.0, 0.0, 0.0])
        assert result.labels[0] == 1
        unclamped = dawid_skene(votes.item, votes.worker, label)
        assert unclamped.labels[0] == 0
        # The voters on item 0 now "answered a when the truth was b": their estimated P(a | b) rises.
        voters = votes.worker[votes.item == 0]
        assert np.all(result.confusion[voters, 1, 0] > unclamped.confusion[voters, 1, 0])

    def test_it_estimates_confusion_matrices_closer_to_the_truth_with_gold(self):
        votes = simulate_votes(
            n_items=1500,
            n_workers=30,
            worker_counts={"good": 5, "average": 5, "random": 10, "too_fast": 10},
            seed=11,
        )
        gold = np.arange(0, votes.n_items, 3)
        without = dawid_skene(votes.item, votes.worker, votes.label)
        with_gold = dawid_skene(
            votes.item, votes.worker, votes.label, gold_item=gold, gold_label=votes.true_label[gold]
        )
        error_without = np.abs(without.confusion - votes.confusion).mean()
        error_with = np.abs(with_gold.confusion - votes.confusion).mean()
        assert error_with < 0.8 * error_without
        assert np.all(with_gold.labels[gold] == votes.true_label[gold])

    def test_it_beats_majority_vote_with_twenty_percent_spammers(self):
        votes = simulate_votes(n_items=6000, n_workers=100, spammer_share=0.2, seed=2024)
        majority = majority_vote(votes.item, votes.label, n_items=votes.n_items)
        # Give majority vote its best case: break its ties by label order instead of counting them wrong.
        majority_accuracy = np.mean(majority.label_weight.argmax(axis=1) == votes.true_label)
        result = dawid_skene(votes.item, votes.worker, votes.label)
        ds_accuracy = np.mean(result.labels == votes.true_label)
        assert ds_accuracy > majority_accuracy + 0.05, (ds_accuracy, majority_accuracy)

    def test_it_gives_the_same_answer_on_one_thread_and_several(self):
        votes = simulate_votes(n_items=120_000, n_workers=200, seed=8)
        one = dawid_skene(votes.item, votes.worker, votes.label, max_iter=5, tol=None, n_threads=1)
        two = dawid_skene(votes.item, votes.worker, votes.label, max_iter=5, tol=None, n_threads=2)
        np.testing.assert_allclose(one.posteriors, two.posteriors, atol=1e-12)
        np.testing.assert_allclose(one.log_likelihood, two.log_likelihood, rtol=1e-12)

    def test_it_handles_items_with_many_votes_and_items_without_votes(self):
        rng = np.random.default_rng(0)
        item = np.concatenate([np.repeat(0, 20), rng.integers(1, 50, 300)])
        worker = np.concatenate([np.arange(20), rng.integers(0, 20, 300)])
        label = rng.integers(0, 4, item.size)
        result = dawid_skene(item, worker, label, n_items=60, max_iter=10, tol=None)
        assert result.posteriors.shape == (60, 4)
        np.testing.assert_allclose(result.posteriors.sum(axis=1), 1.0)
        # Items 50..59 have no votes: their posterior is the prior (from the last E-step).
        np.testing.assert_allclose(result.posteriors[55], result.posteriors[59])

    @pytest.mark.parametrize("model", ["full", "one_coin"])
    def test_it_gives_the_same_answer_whatever_the_block_size(self, model, monkeypatch):
        # Small blocks put gold items, items without votes, partial slots and the sparse
        # tail (an item with 20 votes) into many different blocks.
        module = importlib.import_module("annotate.aggregation.dawid_skene_blocks")
        votes = simulate_votes(n_items=900, n_workers=40, spammer_share=0.2, seed=9)
        item = np.concatenate([votes.item, np.repeat(3, 20), [905]])
        worker = np.concatenate([votes.worker, np.arange(20), [0]])
        label = np.concatenate([votes.label, np.zeros(20, dtype=np.int64), [1]])
        gold = np.arange(0, 900, 11)
        options = dict(
            n_items=910, model=model, gold_item=gold, gold_label=votes.true_label[gold], max_iter=15, tol=None
        )
        whole = dawid_skene(item, worker, label, **options)
        monkeypatch.setattr(module, "BLOCK_ITEMS", 7)
        monkeypatch.setattr(module, "MIN_ITEMS_PER_THREAD", 1)
        blocked = dawid_skene(item, worker, label, n_threads=3, **options)
        np.testing.assert_allclose(blocked.posteriors, whole.posteriors, rtol=0, atol=1e-12)
        np.testing.assert_allclose(blocked.confusion, whole.confusion, rtol=0, atol=1e-12)
        np.testing.assert_allclose(blocked.log_likelihood, whole.log_likelihood, rtol=1e-12)
        np.testing.assert_array_equal(blocked.labels[gold], votes.true_label[gold])
