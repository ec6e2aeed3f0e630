"""The annotator page in a real browser: keyboard-only labelling and untrusted content."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from annotate.models import Assignment, Comparison, Judgment, Project
from annotate.services.assignment import comparison_next_for_annotator
from tests.browser import log_in
from tests.factories import make_comparison, make_comparisons

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _open_task_page(page: Any, live_server: Any, user: User, project: Project) -> None:
    """Sign ``user`` in and wait for the project's task page to show a task."""
    log_in(page, live_server, user, f"/annotate/{project.slug}/")
    page.wait_for_selector("#task")


def _make_questions(project: Project, count: int) -> None:
    """``count`` comparisons whose questions and answers are numbered."""
    for n in range(count):
        make_comparison(project, prompt=f"Question {n}?", a=f"First answer {n}", b=f"Second answer {n}")


class AnnotatorPageBrowserTests:
    def test_it_annotates_three_comparisons_with_the_keyboard_only(
        self, page: Any, live_server: Any, project: Project, annotator: User
    ) -> None:
        _make_questions(project, 4)
        _open_task_page(page, live_server, annotator, project)
        expected = []
        keys = [("z", "1"), ("c", "2"), (None, "3")]
        for strength_key, choice_key in keys:
            lease_id = int(page.get_attribute("#task", "data-lease"))
            lease = Assignment.objects.get(pk=lease_id)
            expected.append((lease_id, choice_key, lease.flipped))
            if strength_key:
                page.keyboard.press(strength_key)
            if choice_key == "3":
                page.keyboard.press("n")
                page.keyboard.type("too close to call")
                page.keyboard.press("Escape")
            page.keyboard.press(choice_key)
            # htmx swaps the next item in without a page load: wait for a different lease.
            # (A selector, not wait_for_function: the page's CSP forbids the eval that polls a string.)
            page.wait_for_selector(f"#task:not([data-lease='{lease_id}'])")
        judgments = {j.assignment_id: j for j in Judgment.objects.filter(annotator=annotator)}
        assert len(judgments) == 3
        displayed = {"1": "a", "2": "b", "3": "tie"}
        for lease_id, key, flipped in expected:
            choice = displayed[key]
            if flipped and choice in ("a", "b"):
                choice = "b" if choice == "a" else "a"
            assert judgments[lease_id].choice == choice
            assert judgments[lease_id].seconds_spent is not None
        strengths = [judgments[lease_id].strength for lease_id, _, _ in expected]
        assert strengths == ["significantly", "slightly", ""]
        assert judgments[expected[2][0]].rationale == "too close to call"
        assert page.locator("#progress").inner_text().startswith("3 done today")

    def test_a_script_in_a_response_is_shown_as_text_and_not_run(
        self, page: Any, live_server: Any, project: Project, annotator: User
    ) -> None:
        payload = "<script>window.pwned = true; document.title = 'pwned'</script><img src=x onerror=\"window.pwned=true\">"
        make_comparison(project, prompt=f"Say {payload}", a=payload, b=f"**bold** {payload}")
        dialogs: list[str] = []

        def on_dialog(dialog: Any) -> None:
            dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        _open_task_page(page, live_server, annotator, project)
        left = page.inner_text("#response-left")
        assert "<script>window.pwned = true;" in left + page.inner_text("#response-right")
        assert page.evaluate("window.pwned === undefined")
        assert page.title() != "pwned"
        assert page.locator("#task script").count() == 0
        assert page.locator("#task img").count() == 0
        assert dialogs == []
        assert page.locator("#response-left strong, #response-right strong").count() == 1

    def test_the_help_opens_with_the_question_mark(
        self, page: Any, live_server: Any, project: Project, annotator: User
    ) -> None:
        make_comparison(project)
        _open_task_page(page, live_server, annotator, project)
        assert not page.is_visible("#help")
        page.keyboard.press("?")
        assert page.is_visible("#help")
        page.keyboard.press("s")  # shortcuts are off while help is open
        assert Assignment.objects.filter(status="skipped").count() == 0

    def test_a_refused_submit_shows_its_error_in_place(
        self, page: Any, live_server: Any, project: Project, annotator: User
    ) -> None:
        # A 400 from the htmx submit is swapped in like a 200 (annotate.js sets htmx.config.responseHandling), so the
        # annotator reads the named error instead of a page that silently does nothing.
        make_comparison(project)
        _open_task_page(page, live_server, annotator, project)
        lease_id = page.get_attribute("#task", "data-lease")
        page.evaluate("document.getElementById('rationale').value = 'why\\u0000not'")
        page.keyboard.press("1")
        page.wait_for_selector("#task .error")
        assert "rationale: must not contain NUL characters" in page.inner_text("#task .error")
        assert page.get_attribute("#task", "data-lease") == lease_id
        assert Judgment.objects.count() == 0


class UndoAndMyJudgmentsBrowserTests:
    def test_u_takes_the_last_judgment_back_and_the_item_is_judged_again(
        self, page: Any, live_server: Any, project: Project, annotator: User
    ) -> None:
        _make_questions(project, 3)
        _open_task_page(page, live_server, annotator, project)
        lease_id = int(page.get_attribute("#task", "data-lease"))
        left = page.inner_text("#response-left")
        page.keyboard.press("1")
        page.wait_for_selector(f"#task:not([data-lease='{lease_id}']) #undo-button")
        assert Judgment.objects.filter(assignment_id=lease_id).count() == 1
        page.keyboard.press("u")
        # The same item comes back, in the same order, and its vote is uncounted.
        page.wait_for_selector(f"#task[data-lease='{lease_id}']")
        assert page.inner_text("#response-left") == left
        assert page.locator("#undo").count() == 0
        assert Judgment.objects.count() == 0
        lease = Assignment.objects.select_related("comparison").get(pk=lease_id)
        assert lease.status == "live" and lease.comparison.vote_count == 0
        page.keyboard.press("2")
        page.wait_for_selector(f"#task:not([data-lease='{lease_id}'])")
        judgment = Judgment.objects.get()
        assert judgment.assignment_id == lease_id
        assert judgment.choice == ("a" if lease.flipped else "b")
        assert Comparison.objects.get(pk=lease.comparison_id).vote_count == 1

    def test_the_undo_offer_goes_away_when_its_time_is_up(
        self, page: Any, live_server: Any, project: Project, annotator: User, settings: Any
    ) -> None:
        settings.JUDGMENT_UNDO_SECONDS = 3
        make_comparisons(project, 2)
        _open_task_page(page, live_server, annotator, project)
        page.keyboard.press("3")
        page.wait_for_selector("#undo-button")
        page.wait_for_selector("#undo", state="detached", timeout=6_000)
        page.keyboard.press("u")  # nothing left to press
        assert Judgment.objects.count() == 1

    def test_my_judgments_shows_the_letter_pressed_and_the_texts_as_they_were_shown(
        self, page: Any, live_server: Any, project: Project, annotator: User
    ) -> None:
        make_comparison(project, prompt="Which is kinder?", a="Stored first", b="Stored second")
        # The lease the page will serve, shown flipped: "Stored second" on the left, as A.
        lease = comparison_next_for_annotator(project=project, annotator=annotator)
        assert lease is not None
        Assignment.objects.filter(pk=lease.pk).update(flipped=True)
        _open_task_page(page, live_server, annotator, project)
        assert page.inner_text("#response-left .md").strip() == "Stored second"
        page.keyboard.press("n")
        page.keyboard.type("A is kinder")
        page.keyboard.press("Escape")
        page.keyboard.press("1")
        page.wait_for_selector("#all-done")
        assert Judgment.objects.get().choice == "b"  # stored canonically
        page.goto(f"{live_server.url}/annotate/{project.slug}/mine/")
        row = page.locator("#my-judgments tbody tr").first
        assert row.locator(".verdict").inner_text() == "A is better"
        assert row.locator(".shown-a").inner_text() == "Stored second"
        assert row.locator(".shown-b").inner_text() == "Stored first"
        assert "A is kinder" in row.inner_text()
