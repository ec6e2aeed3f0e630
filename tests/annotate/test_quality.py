from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from annotate import charts
from annotate.aggregation.selection import SnapshotFilters
from annotate.models import ExportJob, JobStatus, Judgment, Project, Snapshot
from annotate.selectors.agreement import project_agreement
from annotate.selectors.pairs import pair_selection
from annotate.selectors.quality import annotator_quality
from annotate.selectors.ranking import response_ranking
from annotate.selectors.votes import project_votes
from annotate.services.exports import export_job_run
from annotate.services.snapshots import snapshot_create
from tests.factories import (
    make_annotators,
    make_comparison,
    make_judgment,
    make_voted_pairs,
)

pytestmark = pytest.mark.django_db


class AgreementTests:
    def test_it_reports_per_project_batch_and_day(self, project: Project) -> None:
        users = make_annotators(project, 2)
        make_voted_pairs(project, users, [["a", "a"], ["b", "b"]], batch="one")
        make_voted_pairs(project, users, [["a", "b"], ["b", "a"]], batch="two")
        yesterday = timezone.now() - timedelta(days=1)
        Judgment.objects.filter(comparison__batch="two").update(created_at=yesterday)
        agreement = project_agreement(project=project)
        by_batch = {row.label: row for row in agreement.batches}
        assert by_batch["one"].alpha == pytest.approx(1.0) and by_batch["one"].kappa == pytest.approx(1.0)
        assert by_batch["two"].kappa is not None and by_batch["two"].kappa < 0
        assert agreement.project.items == 4 and agreement.project.votes == 8
        assert [row.label for row in agreement.daily] == [
            yesterday.date().isoformat(),
            timezone.now().date().isoformat(),
        ]


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

    def _one_annotator_and_imports(self, project: Project) -> User:
        (person,) = make_annotators(project, 1)
        sides = iter(np.random.default_rng(1).random(100) < 0.5)
        for i in range(50):
            comparison = make_comparison(project)
            make_judgment(comparison, None, "a", seconds=None)
            # The person agrees with the import on 44 of 50 (88%), shown in random order.
            make_judgment(comparison, person, "a" if i < 44 else "b", flipped=bool(next(sides)))
        return person

    def test_it_keeps_imported_verdicts_out_of_the_annotator_table_and_shows_them_apart(
        self, project: Project
    ) -> None:
        person = self._one_annotator_and_imports(project)
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
        self._one_annotator_and_imports(project)
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
        self._one_annotator_and_imports(project)
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


def _drifting(project: Project) -> list[User]:
    """A drifter who agrees with two steady annotators on 30 pairs, then contradicts them on 30 more."""
    drifter, steady, other = make_annotators(project, 3)
    start = timezone.now() - timedelta(days=2)
    for i in range(60):
        comparison = make_comparison(project)
        for user, choice in ((steady, "a"), (other, "a"), (drifter, "a" if i < 30 else "b")):
            judgment = make_judgment(comparison, user, choice, flipped=i % 2 == 1)
            Judgment.objects.filter(pk=judgment.pk).update(created_at=start + timedelta(minutes=10 * i))
    return [drifter, steady, other]


def _colluding(project: Project) -> tuple[list[User], list[User]]:
    """Three accounts that take three of five votes on every third pair and all answer b; six honest annotators answer a."""
    colluders = make_annotators(project, 3)
    honest = make_annotators(project, 6)
    # Display order drawn at random, as the site draws it (a pattern here could fake a position bias).
    sides = iter(np.random.default_rng(0).random(400) < 0.5)
    for k in range(60):
        comparison = make_comparison(project)
        if k % 3:
            voters = [(h, "a") for j, h in enumerate(honest) if j != k % 6]
        else:
            voters = [(c, "b") for c in colluders] + [(honest[k % 6], "a"), (honest[(k + 1) % 6], "a")]
        for user, choice in voters:
            make_judgment(comparison, user, choice, flipped=bool(next(sides)))
    return colluders, honest


class AdversarialFlagTests:
    def test_it_flags_a_drifting_annotator_with_the_recent_window(self, project: Project) -> None:
        drifter, steady, _ = _drifting(project)
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
        colluders, honest = _colluding(project)
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
        _colluding(project)
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


class ChartTests:
    def test_a_line_chart_has_one_point_per_day(self) -> None:
        svg = charts.line_chart(
            title="t", x_labels=["d1", "d2", "d3"], series=[("agreement", [0.5, 0.7, 0.9])]
        )
        path = re.search(r'<path class="series"[^>]* d="([^"]+)"', svg)
        assert path is not None and len(re.findall(r"[ML]", path.group(1))) == 3
        assert svg.count('class="point"') == 3

    def test_a_bar_chart_has_one_bar_per_label_and_escapes_names(self) -> None:
        svg = charts.bar_chart(title="t", labels=["<b>", "ann"], values=[0.5, 0.9], threshold=0.6)
        assert svg.count('class="bar-value"') == 2
        assert "<b>" not in svg and "&lt;b&gt;" in svg
        assert 'class="threshold"' in svg

    def test_a_heatmap_has_sixteen_cells(self) -> None:
        svg = charts.heatmap(title="t", matrix=np.eye(4).tolist(), labels=["a", "b", "tie", "both_bad"])
        assert svg.count('class="cell"') == 16

    @pytest.mark.parametrize("kind", ["heatmap", "line", "bar"])
    def test_chart_text_is_drawn_at_its_own_size_not_scaled_to_the_page(self, kind: str) -> None:
        labels = ["a", "b", "tie", "both_bad"]
        svg = {
            "heatmap": lambda: charts.heatmap(title="t", matrix=np.eye(4).tolist(), labels=labels),
            "line": lambda: charts.line_chart(title="t", x_labels=["d1"], series=[("s", [0.5])]),
            "bar": lambda: charts.bar_chart(title="t", labels=labels, values=[0.5] * 4),
        }[kind]()
        view = re.search(r'viewBox="0 0 (\d+) (\d+)" width="(\d+)" height="(\d+)"', svg)
        # One user unit per CSS pixel (the stylesheet may only shrink it): text is font-size px.
        assert view is not None and view.group(1) == view.group(3) and view.group(2) == view.group(4)
        sizes = {int(size) for size in re.findall(r'font-size="(\d+)"', svg)}
        assert sizes == {charts.FONT_SIZE} and charts.FONT_SIZE < 15  # body text is 15 px

    def test_a_heatmap_shows_a_dash_for_an_unknown_cell(self) -> None:
        matrix = np.eye(4).tolist()
        matrix[2][2] = float("nan")
        svg = charts.heatmap(title="t", matrix=matrix, labels=["a", "b", "tie", "both_bad"])
        assert "nan" not in svg and svg.count(">—</text>") == 1


@pytest.fixture
def voted(project: Project) -> Project:
    users = make_annotators(project, 3)
    make_voted_pairs(project, users, [["a", "a", "b"], ["b", "b", "b"], ["a", "b", ""]])
    return project


def _login(web: Client, user: User | None) -> None:
    if user is not None:
        web.force_login(user)


PAGES = ["/annotate/demo/quality/", "/annotate/demo/snapshots/"]


class StaffPagePermissionTests:
    @pytest.mark.parametrize("url", PAGES)
    def test_it_sends_anonymous_visitors_to_log_in(self, web: Client, voted: Project, url: str) -> None:
        response = web.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]

    @pytest.mark.parametrize("url", PAGES)
    def test_it_hides_the_project_from_non_members(
        self, web: Client, voted: Project, outsider: User, url: str
    ) -> None:
        _login(web, outsider)
        assert web.get(url).status_code == 404

    @pytest.mark.parametrize("url", PAGES)
    def test_it_forbidsmake_annotators(self, web: Client, voted: Project, annotator: User, url: str) -> None:
        _login(web, annotator)
        assert web.get(url).status_code == 403

    @pytest.mark.parametrize("url", PAGES)
    @pytest.mark.parametrize("who", ["project_admin", "superuser"])
    def test_it_serves_admins_and_superusers(
        self, web: Client, voted: Project, url: str, who: str, request: pytest.FixtureRequest
    ) -> None:
        _login(web, request.getfixturevalue(who))
        assert web.get(url).status_code == 200

    def test_export_views_follow_the_same_rules(
        self,
        web: Client,
        voted: Project,
        annotator: User,
        outsider: User,
        project_admin: User,
        staff: User,
        superuser: User,
        settings: object,
        tmp_path: Path,
    ) -> None:
        settings.MEDIA_ROOT = tmp_path  # type: ignore[attr-defined]
        snapshot = snapshot_create(
            project=voted, filters=SnapshotFilters(min_agreement=0.0, drop_flagged=False)
        )
        job = ExportJob.objects.create(
            snapshot=snapshot, format="jsonl", schema="hh", total=snapshot.pair_count
        )
        export_job_run(job_id=job.pk)
        urls = [f"/annotate/demo/exports/{job.pk}/status/", f"/annotate/demo/exports/{job.pk}/download/"]
        post = f"/annotate/demo/snapshots/{snapshot.version}/export/"
        for url in urls:
            assert web.get(url).status_code == 302
        assert web.post(post, {"format": "jsonl", "schema": "hh"}).status_code == 302
        for user, code in ((outsider, 404), (annotator, 403), (staff, 404)):
            _login(web, user)
            for url in urls:
                assert web.get(url).status_code == code, (user, url)
            assert web.post(post, {"format": "jsonl", "schema": "hh"}).status_code == code
            web.logout()
        for user in (project_admin, superuser):
            _login(web, user)
            assert web.get(urls[0]).status_code == 200
            download = web.get(urls[1])
            assert download.status_code == 200 and b"Human:" in b"".join(download.streaming_content)  # type: ignore[attr-defined]
            web.logout()


class QualityPageTests:
    def test_it_draws_the_charts_the_data_implies(
        self, web: Client, voted: Project, project_admin: User
    ) -> None:
        _login(web, project_admin)
        html = web.get("/annotate/demo/quality/").content.decode()
        assert html.count('class="bar-value"') == 0  # no gold items yet: no bars, a note instead
        assert html.count("no gold yet") == 3
        assert html.count('class="cell"') == 16
        assert html.count('<tr class="annotator') == 3
        assert 'class="series"' in html  # one day of votes: a one-point line

    def test_it_counts_pairs_for_a_filter_set_as_an_htmx_fragment(
        self, web: Client, voted: Project, project_admin: User
    ) -> None:
        _login(web, project_admin)
        query: dict[str, str] = {
            "method": "majority",
            "min_votes": "2",
            "min_agreement": "0.9",
            "min_posterior": "0",
            "drop_ties": "on",
        }
        response = web.get("/annotate/demo/quality/", query, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="counts")
        body = response.content.decode()
        assert "<html" not in body and 'id="counts"' in body
        assert re.search(r'class="pairs-passing">1<', body)
        query["min_agreement"] = "0.6"
        body = web.get(
            "/annotate/demo/quality/", query, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="counts"
        ).content.decode()
        assert re.search(r'class="pairs-passing">2<', body)

    def test_it_says_which_flags_cannot_be_computed(
        self, web: Client, voted: Project, project_admin: User
    ) -> None:
        Judgment.objects.filter(comparison__project=voted).update(seconds_spent=None)
        _login(web, project_admin)
        html = web.get("/annotate/demo/quality/").content.decode()
        assert 'data-flag="gold"' in html and "No gold items have votes" in html
        assert 'data-flag="fast"' in html and "too-fast flag cannot be computed" in html
        assert "lone pairs" in html

    def test_it_shows_the_drift_window_behind_a_flag(
        self, web: Client, project: Project, project_admin: User
    ) -> None:
        drifter, _, _ = _drifting(project)
        _login(web, project_admin)
        html = web.get("/annotate/demo/quality/").content.decode()
        row = re.search(r'<tr class="drifting">(.*?)</tr>', html, re.S)
        assert row is not None and drifter.username in row.group(1)
        assert "30, 1.00" in row.group(1) and "30, 0.00" in row.group(1)
        assert html.count('class="point earlier"') == 1 and html.count('class="point recent"') == 1

    def test_it_shows_the_colluding_group_and_how_often_it_agrees_against_the_rest(
        self, web: Client, project: Project, project_admin: User
    ) -> None:
        colluders, _ = _colluding(project)
        _login(web, project_admin)
        html = web.get("/annotate/demo/quality/").content.decode()
        row = re.search(r'<tr class="group" id="group-1">(.*?)</tr>', html, re.S)
        assert row is not None
        assert ", ".join(sorted(c.username for c in colluders)) in row.group(1)
        assert "60 (1.00)" in row.group(1)
        assert html.count('href="#group-1"') == 3

    def test_it_shows_dashes_with_reasons_instead_of_nan_and_lists_imported_verdicts_apart(
        self, web: Client, voted: Project, project_admin: User
    ) -> None:
        # voted: nobody answers tie or both_bad (and the third annotator never a), so those
        # DS diagonal entries cannot be estimated.
        for _ in range(3):
            make_judgment(make_comparison(voted), None, "a", seconds=None)
        _login(web, project_admin)
        html = web.get("/annotate/demo/quality/").content.decode()
        assert not re.search(r"\bnan\b", html, re.I)
        diagonal = re.findall(r'<td class="diagonal">(.*?)</td>', html, re.S)
        assert sorted(cells.count("—") for cells in diagonal) == [2, 2, 3]
        assert 'id="dash-legend"' in html and "never gave that answer" in html
        assert html.count('<tr class="annotator') == 3 and ">imported<" not in html
        assert 'id="imported-verdicts"' in html and "3 on 3 comparisons" in html
        assert html.count('<td class="imported-agreement">— (none of their items has one)</td>') == 3

    def test_it_shows_agreement_between_two_annotators_and_splits_among_three(
        self, web: Client, project: Project, project_admin: User
    ) -> None:
        first, second, third = make_annotators(project, 3)
        make_voted_pairs(project, [first, second, third], [["a", "a", ""], ["a", "b", ""], ["a", "b", "a"]])
        _login(web, project_admin)
        html = web.get(f"/annotate/{project.slug}/quality/").content.decode()
        cells = dict(
            re.findall(
                r'<td><a href="\?annotator=\d+#confusion">([^<]+)</a></td>.*?<td class="consensus">(.*?)</td>',
                html,
                re.S,
            )
        )
        # first: agrees with second on pair 1, not on pair 2; on pair 3 the others split 1-1.
        # second: right on pair 1, against first on 2, against first and third on 3.
        assert cells[first.username] == "0.50 (2); no consensus among the others on 1"
        assert cells[second.username] == "0.33 (3)"
        assert cells[third.username] == "— (the others split evenly on all 1 of their items)"
        assert "1.00" not in "".join(cells.values())

    def test_it_shows_one_annotator_against_imported_verdicts_apart_from_agreement(
        self, web: Client, project: Project, project_admin: User
    ) -> None:
        ImportedVerdictTests()._one_annotator_and_imports(project)
        _login(web, project_admin)
        html = web.get(f"/annotate/{project.slug}/quality/").content.decode()
        assert html.count('<tr class="annotator') == 1
        assert '<td class="consensus">— (no one else voted on their items)</td>' in html
        assert '<td class="imported-agreement">0.88 (50)</td>' in html
        assert "50 on 50 comparisons, 50 of them also voted on by people" in html
        assert not re.search(r"\bnan\b", html, re.I) and "−0.0" not in html

    def test_it_says_why_alpha_is_missing(self, web: Client, project: Project, project_admin: User) -> None:
        (person,) = make_annotators(project, 1)
        make_judgment(make_comparison(project), person, "a")
        _login(web, project_admin)
        html = web.get(f"/annotate/{project.slug}/quality/").content.decode()
        row = re.search(r'<tr class="scope">(.*?)</tr>', html, re.S)
        assert row is not None and row.group(1).count("— (no item has two votes from people yet)") == 2
        assert not re.search(r"\bnan\b", html, re.I)

    def test_it_shows_one_annotator_confusion_when_picked(
        self, web: Client, voted: Project, project_admin: User
    ) -> None:
        _login(web, project_admin)
        someone = Judgment.objects.filter(comparison__project=voted).first()
        assert someone is not None
        html = web.get("/annotate/demo/quality/", {"annotator": str(someone.annotator_id)}).content.decode()
        assert f"Dawid–Skene confusion of {someone.annotator_id}" in html


class SnapshotPageTests:
    def test_it_creates_a_snapshot_from_the_form_and_lists_it(
        self, web: Client, voted: Project, project_admin: User
    ) -> None:
        _login(web, project_admin)
        form = {
            "method": "majority",
            "min_votes": 1,
            "min_agreement": 0.5,
            "min_posterior": 0,
            "drop_ties": "on",
        }
        assert web.post("/annotate/demo/snapshots/", form).status_code == 302
        snapshot = Snapshot.objects.get(project=voted)
        assert snapshot.pair_count == 2 and snapshot.created_by == project_admin
        assert snapshot.filters["drop_flagged"] is False
        html = web.get("/annotate/demo/snapshots/").content.decode()
        assert "v1" in html and snapshot.content_hash[:12] in html

    def test_it_queues_an_export_and_polls_its_progress(
        self, web: Client, voted: Project, project_admin: User, settings: object, tmp_path: Path
    ) -> None:
        settings.MEDIA_ROOT = tmp_path  # type: ignore[attr-defined]
        _login(web, project_admin)
        snapshot = snapshot_create(
            project=voted, filters=SnapshotFilters(min_agreement=0.0, drop_flagged=False)
        )
        response = web.post(
            f"/annotate/demo/snapshots/{snapshot.version}/export/",
            {"format": "parquet", "schema": "hh"},
            HTTP_HX_REQUEST="true",
        )
        job = ExportJob.objects.get()
        body = response.content.decode()
        assert 'hx-trigger="every 1s"' in body and 'class="bar"' in body
        export_job_run(job_id=job.pk)
        body = web.get(f"/annotate/demo/exports/{job.pk}/status/").content.decode()
        assert "hx-trigger" not in body and f"/annotate/demo/exports/{job.pk}/download/" in body
        assert ExportJob.objects.get().status == JobStatus.SUCCEEDED


class CommandTests:
    def test_snapshot_create_and_export_snapshot_write_a_file(self, voted: Project, tmp_path: Path) -> None:
        log = io.StringIO()
        call_command("snapshot_create", "demo", "--min-agreement", "0", "--keep-flagged", stdout=log)
        assert "demo v1: 2 pairs" in log.getvalue()
        out = tmp_path / "out.parquet"
        call_command(
            "export_snapshot",
            "demo",
            str(out),
            "--format",
            "parquet",
            "--schema",
            "trl_conversational",
            verbosity=0,
            stdout=log,
        )
        assert pq.read_table(out).num_rows == Snapshot.objects.get().pair_count == 2


# How large the browser draws chart text, against the body text: a chart's font-size is in
# its viewBox units, so what shows is font-size × (drawn width / viewBox width).
CHART_TEXT_SIZES = """
() => {
  const body = parseFloat(getComputedStyle(document.body).fontSize);
  return [...document.querySelectorAll("svg.chart")].map((svg) => {
    const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
    const text = svg.querySelector("text");
    return {id: svg.closest("figure").id, body: body, text: parseFloat(text.getAttribute("font-size")) * scale};
  });
}
"""


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
class QualityPageBrowserTests:
    def test_chart_text_is_no_larger_than_the_body_text(
        self, page: Any, live_server: Any, project: Project, project_admin: User
    ) -> None:
        make_voted_pairs(
            project, make_annotators(project, 3), [["a", "a", "b"], ["b", "b", "b"], ["a", "b", ""]]
        )
        web = Client()
        web.force_login(project_admin)
        page.context.add_cookies(
            [{"name": "sessionid", "value": web.cookies["sessionid"].value, "url": live_server.url}]
        )
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(f"{live_server.url}/annotate/{project.slug}/quality/")
        sizes = page.evaluate(CHART_TEXT_SIZES)
        assert {s["id"] for s in sizes} >= {"confusion-chart", "agreement-chart", "gold-chart"}
        for size in sizes:
            assert size["text"] <= size["body"], size
            assert size["text"] >= 0.6 * size["body"], size  # and still readable
