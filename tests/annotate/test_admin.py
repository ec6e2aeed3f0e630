"""The Django admin's comparison screens: read-only counters, the prompt column, bulk gold marking."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotate.models import Comparison, ComparisonStatus, Project, Role
from annotate.services.gold import gold_mark
from tests.clients import web_client
from tests.factories import (
    add_member,
    make_comparison,
    make_comparisons,
    make_judgment,
    make_project,
    make_user,
)

pytestmark = pytest.mark.django_db

COUNTERS = (
    "vote_count",
    "slots_taken",
    "votes_a",
    "votes_b",
    "votes_tie",
    "votes_both_bad",
    "winner",
    "agreement",
    "posterior",
)


@pytest.fixture
def clerk(project: Project) -> User:
    """Staff who administers ``project`` and may use the comparison screens."""
    user = make_user("clerk", staff=True, perms=["view_comparison", "change_comparison"])
    add_member(project, user, Role.ADMIN)
    return user


def _change_form(comparison: Comparison, **overrides: Any) -> dict[str, Any]:
    form = {
        "project": comparison.project_id,
        "prompt": comparison.prompt_id,
        "response_a": comparison.response_a_id,
        "response_b": comparison.response_b_id,
        "status": comparison.status,
        "priority": comparison.priority,
        "gold_answer": comparison.gold_answer,
        "batch": comparison.batch,
    }
    form.update(overrides)
    return form


class ComparisonAdminTests:
    def test_it_shows_vote_counters_winner_and_agreement_but_never_as_inputs(
        self, project: Project, clerk: User, annotator: User
    ) -> None:
        comparison = make_comparison(project)
        make_judgment(comparison, annotator, "a")
        html = web_client(clerk).get(f"/admin/annotate/comparison/{comparison.pk}/change/").content.decode()
        for name in COUNTERS:
            assert f'name="{name}"' not in html, name
            assert f"field-{name}" in html, name  # still shown, read-only
        assert 'name="priority"' in html  # the settings stay editable

    def test_it_ignores_counters_posted_by_hand(self, project: Project, clerk: User, annotator: User) -> None:
        comparison = make_comparison(project)
        make_judgment(comparison, annotator, "a")
        forged = {"vote_count": 50, "votes_b": 50, "slots_taken": 0, "winner": "b", "agreement": "1.0"}
        response = web_client(clerk).post(
            f"/admin/annotate/comparison/{comparison.pk}/change/",
            _change_form(comparison, priority=7, **forged),
        )
        assert response.status_code == 302
        comparison.refresh_from_db()
        assert comparison.priority == 7
        assert (comparison.vote_count, comparison.votes_a, comparison.votes_b, comparison.winner) == (
            1,
            1,
            0,
            "",
        )

    def test_it_lists_a_short_prompt_in_one_query_for_any_number_of_rows(
        self, project: Project, clerk: User
    ) -> None:
        make_comparison(project, prompt="Short question?")
        make_comparison(project, prompt="Why " + "very " * 40 + "long?")
        web = web_client(clerk)
        html = web.get("/admin/annotate/comparison/").content.decode()
        assert "Short question?" in html
        assert "Why very very" in html and "very " * 40 not in html and "…" in html

        def queries() -> int:
            with CaptureQueriesContext(connection) as captured:
                assert web.get("/admin/annotate/comparison/").status_code == 200
            return len(captured)

        few = queries()
        make_comparisons(project, 10)
        assert queries() == few


class GoldActionTests:
    def test_it_marks_the_selected_comparisons_gold_and_reopens_them(
        self, project: Project, clerk: User
    ) -> None:
        chosen = make_comparisons(project, 3)
        untouched = make_comparison(project)
        Comparison.objects.filter(pk=chosen[0].pk).update(status=ComparisonStatus.COMPLETE)
        response = web_client(clerk).post(
            "/admin/annotate/comparison/",
            {"action": "mark_gold_b", "_selected_action": [c.pk for c in chosen]},
            follow=True,
        )
        assert "Marked 3 as gold with answer B." in response.content.decode()
        rows = Comparison.objects.filter(pk__in=[c.pk for c in chosen])
        assert set(rows.values_list("is_gold", "gold_answer", "status")) == {(True, "b", "open")}
        untouched.refresh_from_db()
        assert not untouched.is_gold

    def test_it_refuses_comparisons_of_projects_one_only_reads(self, project: Project, clerk: User) -> None:
        # The clerk reads every project (view_project) but administers only ``project``.
        clerk.user_permissions.add(
            Permission.objects.get(content_type__app_label="annotate", codename="view_project")
        )
        clerk = User.objects.get(pk=clerk.pk)  # fresh permission cache
        mine = make_comparison(project)
        theirs = make_comparison(make_project(slug="theirs"))
        web = web_client(clerk)
        listed = web.get("/admin/annotate/comparison/").context["cl"].result_list
        assert {c.pk for c in listed} == {mine.pk, theirs.pk}
        response = web.post(
            "/admin/annotate/comparison/",
            {"action": "mark_gold_a", "_selected_action": [mine.pk, theirs.pk]},
            follow=True,
        )
        html = response.content.decode()
        assert "Marked 1 as gold with answer A." in html
        assert "1 left unchanged: only admins of their project may mark gold items." in html
        assert Comparison.objects.get(pk=mine.pk).is_gold
        assert not Comparison.objects.get(pk=theirs.pk).is_gold

    def test_readers_without_the_change_permission_are_not_offered_the_action(self, project: Project) -> None:
        reader = make_user("looker", staff=True, perms=["view_comparison", "view_project"])
        comparison = make_comparison(project)
        web = web_client(reader)
        assert "mark_gold_a" not in web.get("/admin/annotate/comparison/").content.decode()
        web.post(
            "/admin/annotate/comparison/", {"action": "mark_gold_a", "_selected_action": [comparison.pk]}
        )
        assert not Comparison.objects.get(pk=comparison.pk).is_gold


class GoldMarkTests:
    def test_it_counts_marked_unchanged_and_refused(self, project: Project, project_admin: User) -> None:
        mine = make_comparisons(project, 2)
        theirs = make_comparison(make_project(slug="theirs"))
        first = gold_mark(user=project_admin, comparison_ids=[mine[0].pk, theirs.pk], answer="a")
        assert (first.marked, first.unchanged, first.refused) == (1, 0, 1)
        again = gold_mark(user=project_admin, comparison_ids=[c.pk for c in mine], answer="a")
        assert (again.marked, again.unchanged, again.refused) == (1, 1, 0)
        flipped = gold_mark(user=project_admin, comparison_ids=[mine[0].pk], answer="b")
        assert flipped.marked == 1 and Comparison.objects.get(pk=mine[0].pk).gold_answer == "b"

    def test_annotators_mark_nothing(self, project: Project, annotator: User) -> None:
        comparison = make_comparison(project)
        result = gold_mark(user=annotator, comparison_ids=[comparison.pk], answer="a")
        assert (result.marked, result.refused) == (0, 1) and not Comparison.objects.get(
            pk=comparison.pk
        ).is_gold

    def test_it_refuses_an_answer_that_is_not_a_side(self, project: Project, project_admin: User) -> None:
        with pytest.raises(ValueError, match="'a' or 'b'"):
            gold_mark(user=project_admin, comparison_ids=[make_comparison(project).pk], answer="tie")
