from dataclasses import replace

import numpy as np
import pytest

from annotate.aggregation.flags import FlagThresholds, annotator_flags_for
from annotate.simulation import WORKER_TYPES, SimulatedVotes, simulate_votes


def _flags(votes: SimulatedVotes, gold: np.ndarray | None = None, **kwargs):
    if "seconds" in kwargs:
        votes = replace(votes, seconds=kwargs.pop("seconds"))
    return annotator_flags_for(
        votes, gold_item=gold, gold_label=None if gold is None else votes.true_label[gold], **kwargs
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
