import numpy as np
import pytest

from annotate.aggregation.flags import (
    FlagThresholds,
    agreement_with_others,
    annotator_flags,
    collusion_test,
    drift_test,
)
from annotate.aggregation.labels import NO_WINNER
from annotate.aggregation.majority import majority_vote
from annotate.simulation import WORKER_TYPES, SimulatedVotes, simulate_votes


def _flags(votes: SimulatedVotes, gold: np.ndarray | None = None, **kwargs):
    majority = majority_vote(votes.item, votes.label, n_items=votes.n_items)
    consensus = np.where(majority.votes >= 2, majority.winner, NO_WINNER)
    return annotator_flags(
        votes.item,
        votes.worker,
        votes.label,
        flipped=votes.flipped,
        seconds=kwargs.pop("seconds", votes.seconds),
        time=votes.time,
        consensus=consensus,
        n_workers=votes.n_workers,
        gold_item=gold,
        gold_label=None if gold is None else votes.true_label[gold],
        **kwargs,
    )


def _kind(votes: SimulatedVotes, name: str) -> np.ndarray:
    return votes.worker_type == WORKER_TYPES.index(name)


class AnnotatorFlagsTests:
    @pytest.mark.parametrize("gold_every", [None, 10])
    def test_it_finds_colluding_groups_without_gold_and_names_their_members(self, gold_every):
        votes = simulate_votes(
            n_items=4000,
            votes_per_item=5,
            worker_counts={"good": 30, "average": 30, "colluding": 12},
            seed=21,
        )
        gold = None if gold_every is None else np.arange(0, votes.n_items, gold_every)
        flags = _flags(votes, gold)
        colluders = _kind(votes, "colluding")
        np.testing.assert_array_equal(flags.flags["collusion"], colluders)
        found = sorted(sorted(g.members) for g in flags.collusion.groups)
        planted = sorted(
            sorted(np.flatnonzero(votes.group == g).tolist()) for g in np.unique(votes.group[colluders])
        )
        assert found == planted
        for group in flags.collusion.groups:
            # Far above chance: at least the threshold's 3× what agreeing pairs are outvoted elsewhere.
            assert (
                group.agree_against >= 3 * group.expected
                and group.rate > 0.4
                and group.agreed >= group.agree_against
            )
        assert ("gold" in flags.unavailable) == (gold is None)

    def test_it_flags_drifting_annotators_with_the_window_that_shows_it(self):
        votes = simulate_votes(
            n_items=5000, votes_per_item=5, worker_counts={"good": 40, "average": 30, "drifting": 20}, seed=8
        )
        flags = _flags(votes)
        drifters = _kind(votes, "drifting")
        assert flags.flags["drift"][drifters].mean() >= 0.9
        assert not flags.flags["drift"][~drifters].any()
        d = flags.drift
        hit = np.flatnonzero(d.flagged)
        assert np.all(d.earlier_accuracy[hit] - d.recent_accuracy[hit] >= 0.2)
        assert np.all(d.earlier_votes[hit] + d.recent_votes[hit] == d.scored_votes[hit])
        # The change-point found lies near where the annotator really turned (as a share of their history).
        assert np.all(d.p_value[hit] < 0.01)
        late_share = np.array([flags.drift.late[votes.worker == w].mean() for w in hit])
        np.testing.assert_allclose(late_share, 1 - votes.drift_at[hit], atol=0.15)

    def test_it_flags_position_biased_annotators_and_few_honest_ones(self):
        votes = simulate_votes(
            n_items=6000,
            votes_per_item=5,
            worker_counts={"good": 40, "average": 40, "position_biased": 20},
            seed=4,
        )
        flags = _flags(votes)
        biased = _kind(votes, "position_biased")
        assert flags.flags["position"][biased].mean() >= 0.9
        assert flags.flags["position"][~biased].sum() <= 2

    def test_it_says_when_a_flag_cannot_be_computed(self):
        votes = simulate_votes(n_items=200, votes_per_item=2, n_workers=10, seed=1)
        flags = _flags(votes, seconds=np.full(votes.label.size, np.nan))
        assert "how long it took" in flags.unavailable["fast"] and not flags.flags["fast"].any()
        assert "gold" in flags.unavailable["gold"]
        assert "three or more votes" in flags.unavailable["collusion"]
        gold = np.arange(0, 200, 50)
        with_gold = _flags(votes, gold, thresholds=FlagThresholds(min_gold_items=10))
        assert "minimum" in with_gold.unavailable["gold"]

    def test_it_never_flags_exempt_annotators(self):
        votes = simulate_votes(
            n_items=2000, votes_per_item=5, worker_counts={"good": 20, "colluding": 8}, seed=3
        )
        exempt = _kind(votes, "colluding")
        flags = _flags(votes, exempt=exempt)
        assert not flags.any_flag[exempt].any()


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


class CollusionTestTests:
    def test_it_needs_items_with_a_third_vote(self):
        result = collusion_test(
            np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1]), np.array([0, 0, 1, 1]), n_items=2, n_workers=2
        )
        assert result.eligible_items == 0 and result.groups == []


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
