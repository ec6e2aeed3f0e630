from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotate.aggregation.selection import SnapshotFilters
from annotate.models import Judgment, Project
from annotate.selectors.agreement import project_agreement
from annotate.selectors.pairs import pair_selection
from annotate.selectors.quality import annotator_quality
from annotate.selectors.ranking import response_ranking
from annotate.selectors.votes import project_votes
from tests.annotate.crowds import make_colluding_crowd, make_drifting_crowd, make_one_annotator_with_imports
from tests.factories import make_annotators, make_comparison, make_judgment, make_voted_pairs

pytestmark = pytest.mark.django_db


class AnnotatorQualityTests:
    def test_it_measures_gold_accuracy_and_flags_after_enough_gold(self, project: Project) -> None:
        project.min_gold_items = 4
        project.min_gold_accuracy = 0.6
        project.save()
        good, bad = make_annotators(project, 2)
        for answer in ["a", "b", "a", "b"]:
            gold = make_comparison(project, is_gold=True, gold_answer=answer)
            make_judgment(gold, good, answer)
            make_judgment(gold, bad, "a")  # right only when the answer is a
        report = {a.name: a for a in annotator_quality(project=project).annotators}
        assert report[good.username].gold_accuracy == 1.0 and report[good.username].flags == []
        assert report[bad.username].gold_accuracy == 0.5 and "gold" in report[bad.username].flags
        assert report[bad.username].gold_items == 4

    def test_it_flags_position_bias_with_a_binomial_test_on_screen_sides(self, project: Project) -> None:
        project.position_bias_p = 0.01
        project.save()
        lefty, fair = make_annotators(project, 2)
        for i in range(20):
            flipped = i % 2 == 0
            c = make_comparison(project)
            # Always the left response: canonical "b" when B was shown on the left.
            make_judgment(c, lefty, "b" if flipped else "a", flipped=flipped)
            make_judgment(c, fair, "a", flipped=flipped)
        make_judgment(make_comparison(project), lefty, "tie")  # ties are not a side
        report = {a.name: a for a in annotator_quality(project=project).annotators}
        assert report[lefty.username].left_share == 1.0 and report[lefty.username].decisive_votes == 20
        assert report[lefty.username].bias_p == pytest.approx(2 * 0.5**20)
        assert "position" in report[lefty.username].flags
        assert report[fair.username].left_share == 0.5 and "position" not in report[fair.username].flags

    def test_it_flags_annotators_faster_than_the_floor_and_never_the_imported_votes(
        self, project: Project
    ) -> None:
        project.min_median_seconds = 3.0
        project.save()
        (quick,) = make_annotators(project, 1)
        for seconds in (1.0, 2.0, 30.0):
            make_judgment(make_comparison(project), quick, "a", seconds=seconds)
        for _ in range(30):
            make_judgment(make_comparison(project), None, "a", seconds=None)
        quality = annotator_quality(project=project)
        report = {a.name: a for a in quality.annotators}
        assert report[quick.username].median_seconds == 2.0 and report[quick.username].flags == ["fast"]
        assert "imported" not in report and quality.imported is not None and quality.imported.votes == 30

    def test_it_reads_all_votes_in_one_query(self, project: Project) -> None:
        users = make_annotators(project, 3)
        make_voted_pairs(project, users, [["a", "a", "b"]] * 20)
        with CaptureQueriesContext(connection) as queries:
            votes = project_votes(project=project)
        assert votes.item.size == 60
        assert len(queries) == 1

    def test_it_reports_agreement_with_consensus_and_the_ds_diagonal(self, project: Project) -> None:
        users = make_annotators(project, 3)
        make_voted_pairs(project, users, [["a", "a", "b"], ["b", "b", "a"], ["a", "a", "a"]])
        report = {a.name: a for a in annotator_quality(project=project).annotators}
        contrarian = report[users[2].username]
        assert contrarian.consensus_agreement == pytest.approx(1 / 3)
        # users[0]'s other two votes were on items where the others split 1–1.
        assert report[users[0].username].consensus_agreement == 1.0
        assert (report[users[0].username].consensus_votes, report[users[0].username].no_consensus) == (1, 2)
        assert len(contrarian.ds_diagonal) == 4 and contrarian.ds_diagonal[2] is None

    def test_it_scores_two_votes_per_item_against_the_other_vote(self, project: Project) -> None:
        # k=2: counting one's own vote, a split has no majority and drops out, and both
        # annotators would "agree with consensus" 1.00. Against the other vote they agree on 2 of 4.
        first, second = make_annotators(project, 2)
        make_voted_pairs(project, [first, second], [["a", "a"], ["b", "b"], ["a", "b"], ["b", "a"]])
        report = {a.name: a for a in annotator_quality(project=project).annotators}
        for user in (first, second):
            assert report[user.username].consensus_agreement == pytest.approx(0.5)
            assert report[user.username].consensus_votes == 4 and report[user.username].no_consensus == 0
        (day,) = project_agreement(project=project).daily
        assert day.consensus == pytest.approx(0.5)


class ImportedVerdictTests:
    """An imported verdict is a dataset's label (always stored as A), not an annotator."""

    def test_it_keeps_imported_verdicts_out_of_the_annotator_table_and_shows_them_apart(
        self, project: Project
    ) -> None:
        person = make_one_annotator_with_imports(project)
        report = annotator_quality(project=project)
        assert [a.name for a in report.annotators] == [person.username]
        assert all(a.annotator_id is not None for a in report.annotators)
        assert report.imported is not None and (report.imported.votes, report.imported.comparisons) == (
            50,
            50,
        )
        row = report.annotators[0]
        assert row.votes == 50 and row.imported_items == 50 and row.imported_agreement == pytest.approx(0.88)
        # Alone among people on every item: no agreement to measure, and the import is no "other".
        assert row.consensus_agreement is None and row.consensus_votes == 0
        assert report.flags is not None and not report.flags.any_flag.any()

    def test_it_keeps_imported_verdicts_out_of_alpha_and_kappa(self, project: Project) -> None:
        make_one_annotator_with_imports(project)
        agreement = project_agreement(project=project)
        # With the import as a rater α came out negative (-0.088 on the data).
        assert agreement.project.votes == 50 and agreement.project.items == 0
        assert agreement.project.alpha is None and agreement.project.kappa is None
        assert agreement.project.note == "no item has two votes from people yet"
        assert agreement.imported is not None and agreement.imported.shared_comparisons == 50
        (day,) = agreement.daily
        assert day.consensus is None

    def test_imported_votes_do_not_count_as_the_others_for_flags(self, project: Project) -> None:
        # Three people answer b on 20 items where the imported verdict says a: with the
        # import as "the others" the three agree against it every time.
        people = make_annotators(project, 3)
        for _ in range(20):
            comparison = make_comparison(project)
            make_judgment(comparison, None, "a", seconds=None)
            for person in people:
                make_judgment(comparison, person, "b")
        report = annotator_quality(project=project)
        assert report.groups == [] and "collusion" not in report.unavailable
        assert {a.name: a.imported_agreement for a in report.annotators} == dict.fromkeys(
            (p.username for p in people), 0.0
        )

    def test_imported_verdicts_still_count_when_pairs_are_aggregated(self, project: Project) -> None:
        make_one_annotator_with_imports(project)
        selection = pair_selection(
            project=project, filters=SnapshotFilters(min_agreement=0.0, drop_ties=False)
        )
        assert selection.counts["votes_used"] == 100

    def test_only_imported_verdicts_make_pairs_without_flags(self, project: Project) -> None:
        for _ in range(3):
            make_judgment(make_comparison(project), None, "a", seconds=None)
        report = annotator_quality(project=project)
        assert report.annotators == [] and report.imported is not None and report.imported.votes == 3
        assert pair_selection(project=project, filters=SnapshotFilters()).pair_count == 3


class AdversarialFlagTests:
    def test_it_flags_a_drifting_annotator_with_the_recent_window(self, project: Project) -> None:
        drifter, steady, _ = make_drifting_crowd(project)
        report = {a.name: a for a in annotator_quality(project=project).annotators}
        flagged = report[drifter.username]
        assert flagged.flags == ["drift"]
        assert flagged.drift is not None
        assert (flagged.drift.earlier_votes, flagged.drift.recent_votes) == (30, 30)
        assert flagged.drift.earlier_accuracy == 1.0 and flagged.drift.recent_accuracy == 0.0
        assert flagged.drift.p_value < 0.01
        first_late = Judgment.objects.filter(annotator=drifter, choice="b").order_by("created_at").first()
        assert first_late is not None and flagged.drift.change_at == first_late.created_at
        assert "drift" not in report[steady.username].flags

    def test_it_finds_colluders_without_gold(self, project: Project) -> None:
        colluders, honest = make_colluding_crowd(project)
        report = annotator_quality(project=project)
        assert "gold" in report.unavailable and "collusion" not in report.unavailable
        (group,) = report.groups
        assert group.members == sorted(c.username for c in colluders)
        # Each of the three pairs agreed against the rest on all 20 attacked pairs.
        assert group.agree_against == 60 and group.shared_items == 60 and group.rate == 1.0
        assert group.expected < group.agree_against / 3
        by_name = {a.name: a for a in report.annotators}
        assert all(by_name[c.username].collusion_group == 1 for c in colluders)
        assert not any("collusion" in by_name[h.username].flags for h in honest)

    def test_down_weighting_colluders_keeps_the_honest_answer(self, project: Project) -> None:
        make_colluding_crowd(project)
        unfiltered = pair_selection(
            project=project, filters=SnapshotFilters(drop_flagged=False, min_agreement=0.0, drop_ties=False)
        )
        weighted = pair_selection(
            project=project, filters=SnapshotFilters(min_agreement=0.0, drop_ties=False)
        )
        assert unfiltered.chosen_is_a.sum() == 40  # the 20 attacked pairs went to b
        assert weighted.chosen_is_a.all() and weighted.pair_count == 60
        assert weighted.counts["votes_downweighted"] == 60

    def test_it_says_the_fast_flag_cannot_be_computed_without_timings(self, project: Project) -> None:
        (user,) = make_annotators(project, 1)
        for _ in range(3):
            make_judgment(make_comparison(project), user, "a", seconds=None)
        report = annotator_quality(project=project)
        assert "how long it took" in report.unavailable["fast"]
        assert report.annotators[0].median_seconds is None and report.annotators[0].flags == []

    def test_it_ranks_responses_per_connected_group_instead_of_failing(self, voted: Project) -> None:
        ranking = response_ranking(project=voted)
        # Every comparison of the fixture is its own pair of responses.
        assert ranking.groups == 3 and ranking.lone_pairs == 3 and ranking.ranked_groups == 0
        assert "lone pairs" in ranking.summary and ranking.largest == []
