"""The annotator page in a real browser: keyboard-only labelling and untrusted content."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from annotate.models import Assignment, Judgment, Project
from tests.factories import PASSWORD, make_comparison

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _log_in(page: Any, live_server: Any, user: User, next_url: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/?next={next_url}")
    page.fill("#id_username", user.get_username())
    page.fill("#id_password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: url.endswith(next_url) and "/login/" not in url)
    page.wait_for_selector("#task")


class AnnotatorPageBrowserTests:
    def test_it_annotates_three_comparisons_with_the_keyboard_only(
        self, page: Any, live_server: Any, project: Project, annotator: User
    ) -> None:
        for n in range(4):
            make_comparison(project, prompt=f"Question {n}?", a=f"First answer {n}", b=f"Second answer {n}")
        _log_in(page, live_server, annotator, f"/annotate/{project.slug}/")
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
        _log_in(page, live_server, annotator, f"/annotate/{project.slug}/")
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
        _log_in(page, live_server, annotator, f"/annotate/{project.slug}/")
        assert not page.is_visible("#help")
        page.keyboard.press("?")
        assert page.is_visible("#help")
        page.keyboard.press("s")  # shortcuts are off while help is open
        assert Assignment.objects.filter(status="skipped").count() == 0

    def test_a_refused_submit_shows_its_error_in_place(
        self, page: Any, live_server: Any, project: Project, annotator: User
    ) -> None:
        # A 400 from the htmx submit is swapped in like a 200 (htmx-config in task.html), so the
        # annotator reads the named error instead of a page that silently does nothing.
        make_comparison(project)
        _log_in(page, live_server, annotator, f"/annotate/{project.slug}/")
        lease_id = page.get_attribute("#task", "data-lease")
        page.evaluate("document.getElementById('rationale').value = 'why\\u0000not'")
        page.keyboard.press("1")
        page.wait_for_selector("#task .error")
        assert "rationale: must not contain NUL characters" in page.inner_text("#task .error")
        assert page.get_attribute("#task", "data-lease") == lease_id
        assert Judgment.objects.count() == 0
