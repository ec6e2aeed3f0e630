from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from annotate.aggregation.selection import SnapshotFilters
from annotate.models import ExportJob, Judgment, Project
from annotate.services.exports import export_job_run
from annotate.services.snapshots import snapshot_create
from tests.annotate.crowds import (
    log_in,
    make_colluding_crowd,
    make_drifting_crowd,
    make_one_annotator_with_imports,
)
from tests.factories import (
    make_annotators,
    make_comparison,
    make_judgment,
    make_voted_pairs,
)

pytestmark = pytest.mark.django_db


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
        log_in(web, outsider)
        assert web.get(url).status_code == 404

    @pytest.mark.parametrize("url", PAGES)
    def test_it_forbidsmake_annotators(self, web: Client, voted: Project, annotator: User, url: str) -> None:
        log_in(web, annotator)
        assert web.get(url).status_code == 403

    @pytest.mark.parametrize("url", PAGES)
    @pytest.mark.parametrize("who", ["project_admin", "superuser"])
    def test_it_serves_admins_and_superusers(
        self, web: Client, voted: Project, url: str, who: str, request: pytest.FixtureRequest
    ) -> None:
        log_in(web, request.getfixturevalue(who))
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
            log_in(web, user)
            for url in urls:
                assert web.get(url).status_code == code, (user, url)
            assert web.post(post, {"format": "jsonl", "schema": "hh"}).status_code == code
            web.logout()
        for user in (project_admin, superuser):
            log_in(web, user)
            assert web.get(urls[0]).status_code == 200
            download = web.get(urls[1])
            assert download.status_code == 200 and b"Human:" in b"".join(download.streaming_content)  # type: ignore[attr-defined]
            web.logout()


class QualityPageTests:
    def test_it_draws_the_charts_the_data_implies(
        self, web: Client, voted: Project, project_admin: User
    ) -> None:
        log_in(web, project_admin)
        html = web.get("/annotate/demo/quality/").content.decode()
        assert html.count('class="bar-value"') == 0  # no gold items yet: no bars, a note instead
        assert html.count("no gold yet") == 3
        assert html.count('class="cell"') == 16
        assert html.count('<tr class="annotator') == 3
        assert 'class="series"' in html  # one day of votes: a one-point line

    def test_it_counts_pairs_for_a_filter_set_as_an_htmx_fragment(
        self, web: Client, voted: Project, project_admin: User
    ) -> None:
        log_in(web, project_admin)
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
        log_in(web, project_admin)
        html = web.get("/annotate/demo/quality/").content.decode()
        assert 'data-flag="gold"' in html and "No gold items have votes" in html
        assert 'data-flag="fast"' in html and "too-fast flag cannot be computed" in html
        assert "lone pairs" in html

    def test_it_shows_the_drift_window_behind_a_flag(
        self, web: Client, project: Project, project_admin: User
    ) -> None:
        drifter, _, _ = make_drifting_crowd(project)
        log_in(web, project_admin)
        html = web.get("/annotate/demo/quality/").content.decode()
        row = re.search(r'<tr class="drifting">(.*?)</tr>', html, re.S)
        assert row is not None and drifter.username in row.group(1)
        assert "30, 1.00" in row.group(1) and "30, 0.00" in row.group(1)
        assert html.count('class="point earlier"') == 1 and html.count('class="point recent"') == 1

    def test_it_shows_the_colluding_group_and_how_often_it_agrees_against_the_rest(
        self, web: Client, project: Project, project_admin: User
    ) -> None:
        colluders, _ = make_colluding_crowd(project)
        log_in(web, project_admin)
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
        log_in(web, project_admin)
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
        log_in(web, project_admin)
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
        make_one_annotator_with_imports(project)
        log_in(web, project_admin)
        html = web.get(f"/annotate/{project.slug}/quality/").content.decode()
        assert html.count('<tr class="annotator') == 1
        assert '<td class="consensus">— (no one else voted on their items)</td>' in html
        assert '<td class="imported-agreement">0.88 (50)</td>' in html
        assert "50 on 50 comparisons, 50 of them also voted on by people" in html
        assert not re.search(r"\bnan\b", html, re.I) and "−0.0" not in html

    def test_it_says_why_alpha_is_missing(self, web: Client, project: Project, project_admin: User) -> None:
        (person,) = make_annotators(project, 1)
        make_judgment(make_comparison(project), person, "a")
        log_in(web, project_admin)
        html = web.get(f"/annotate/{project.slug}/quality/").content.decode()
        row = re.search(r'<tr class="scope">(.*?)</tr>', html, re.S)
        assert row is not None and row.group(1).count("— (no item has two votes from people yet)") == 2
        assert not re.search(r"\bnan\b", html, re.I)

    def test_it_shows_one_annotator_confusion_when_picked(
        self, web: Client, voted: Project, project_admin: User
    ) -> None:
        log_in(web, project_admin)
        someone = Judgment.objects.filter(comparison__project=voted).first()
        assert someone is not None
        html = web.get("/annotate/demo/quality/", {"annotator": str(someone.annotator_id)}).content.decode()
        assert f"Dawid–Skene confusion of {someone.annotator_id}" in html


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
