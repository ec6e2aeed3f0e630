"""The annotator's pages: Undo on the task page, and "My judgments" showing each judgment as it was shown.

The undo API, racing submits and the service's own rules: tests/annotate/test_undo.py.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User

from annotate.models import Assignment, Choice, Judgment, Project
from annotate.services.judgments import judgment_submit
from tests.annotate.crowds import leased
from tests.clients import web_client
from tests.factories import add_member, make_comparison, make_comparisons, make_project

HX = {"HX-Request": "true"}


@pytest.mark.django_db
class TaskUndoPageTests:
    @pytest.fixture
    def lease(self, project: Project, annotator: User) -> Assignment:
        """The annotator's lease on one of two open comparisons."""
        make_comparisons(project, 2)
        return leased(project, annotator)

    def test_the_htmx_submit_offers_undo_and_undo_serves_the_item_back(
        self, project: Project, annotator: User, lease: Assignment
    ) -> None:
        web = web_client(annotator)
        page = web.post(
            f"/annotate/{project.slug}/submit/", {"assignment": lease.pk, "choice": "b"}, headers=HX
        )
        html = page.content.decode()
        assert page.status_code == 200
        assert f'action="/annotate/{project.slug}/assignments/{lease.pk}/undo/"' in html
        assert 'id="undo-button"' in html and f'data-lease="{lease.pk}"' not in html
        undone = web.post(f"/annotate/{project.slug}/assignments/{lease.pk}/undo/", headers=HX)
        assert undone.status_code == 200
        html = undone.content.decode()
        assert f'data-lease="{lease.pk}"' in html and 'id="undo-button"' not in html
        assert lease.comparison.response_a.text in html
        assert Judgment.objects.count() == 0

    def test_a_plain_submit_redirects_to_the_offer_and_a_plain_undo_back_to_the_task(
        self, project: Project, annotator: User, lease: Assignment
    ) -> None:
        web = web_client(annotator)
        page = web.post(f"/annotate/{project.slug}/submit/", {"assignment": lease.pk, "choice": "a"})
        assert page.status_code == 302 and page["Location"] == f"/annotate/{project.slug}/?undo={lease.pk}"
        assert 'id="undo-button"' in web.get(page["Location"]).content.decode()
        # Another lease named in the URL (not the caller's judgment) offers nothing.
        assert (
            'id="undo-button"'
            not in web.get(f"/annotate/{project.slug}/?undo={lease.pk + 999}").content.decode()
        )
        # Nor does an id that is no number int() reads ("²" passes str.isdigit), nor a lease id that is not one.
        assert web.get(f"/annotate/{project.slug}/?undo=%C2%B2").status_code == 200
        refused = web.post(f"/annotate/{project.slug}/submit/", {"assignment": "²", "choice": "a"})
        assert refused.status_code == 400
        undone = web.post(f"/annotate/{project.slug}/assignments/{lease.pk}/undo/")
        assert undone.status_code == 302 and undone["Location"] == f"/annotate/{project.slug}/"
        assert f'data-lease="{lease.pk}"' in web.get(undone["Location"]).content.decode()

    def test_it_offers_nothing_after_the_window_and_refuses_a_late_undo_in_place(
        self, project: Project, annotator: User, lease: Assignment, settings: Any
    ) -> None:
        settings.JUDGMENT_UNDO_SECONDS = 30
        judgment_submit(assignment_id=lease.pk, annotator=annotator, choice="a")
        judgment = Judgment.objects.get(assignment_id=lease.pk)
        Judgment.objects.filter(pk=judgment.pk).update(created_at=judgment.created_at - timedelta(seconds=30))
        web = web_client(annotator)
        assert (
            'id="undo-button"' not in web.get(f"/annotate/{project.slug}/?undo={lease.pk}").content.decode()
        )
        late = web.post(f"/annotate/{project.slug}/assignments/{lease.pk}/undo/", headers=HX)
        assert late.status_code == 409
        assert (
            "too late to undo: a judgment can be undone for 30 s after it is submitted"
            in late.content.decode()
        )
        assert Judgment.objects.filter(pk=judgment.pk).exists()

    def test_a_lease_of_another_project_is_refused_on_this_projects_page(
        self, project: Project, annotator: User
    ) -> None:
        other = make_project(slug="other")
        add_member(other, annotator)
        make_comparison(project)
        lease = leased(project, annotator)
        judgment_submit(assignment_id=lease.pk, annotator=annotator, choice="a")
        response = web_client(annotator).post(
            f"/annotate/{other.slug}/assignments/{lease.pk}/undo/", headers=HX
        )
        assert response.status_code == 403
        assert Judgment.objects.filter(assignment_id=lease.pk).exists()


@pytest.mark.django_db
class MyJudgmentsPageTests:
    def test_it_shows_each_judgment_as_it_was_shown(self, project: Project, annotator: User) -> None:
        make_comparison(project, prompt="Which is kinder?", a="Stored as A", b="Stored as B")
        lease = leased(project, annotator, flipped=True)
        # On screen "Stored as B" was on the left, as A; the annotator pressed A and wrote so.
        judgment_submit(assignment_id=lease.pk, annotator=annotator, choice="a", rationale="A is kinder")
        assert Judgment.objects.get().choice == Choice.B
        html = web_client(annotator).get(f"/annotate/{project.slug}/mine/").content.decode()
        row = html[html.index("<tr data-judgment=") :]
        assert 'data-choice="a"' in row
        assert '<td class="verdict">A is better</td>' in row
        assert row.index("Stored as B") < row.index("Stored as A")
        assert '<td class="shown-a">Stored as B</td>' in row and "A is kinder" in row

    def test_it_keeps_an_unflipped_judgment_and_tie_as_stored(
        self, project: Project, annotator: User
    ) -> None:
        make_comparisons(project, 2)
        for choice in ("b", "tie"):
            lease = leased(project, annotator, flipped=choice == "tie")
            judgment_submit(assignment_id=lease.pk, annotator=annotator, choice=choice)
        html = web_client(annotator).get(f"/annotate/{project.slug}/mine/").content.decode()
        assert '<td class="verdict">B is better</td>' in html and '<td class="verdict">Tie</td>' in html
