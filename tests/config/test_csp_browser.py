"""The Content-Security-Policy in a real browser: the pages work under it and break none of its rules."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User

from annotate.models import Judgment, Project
from tests.browser import log_in
from tests.factories import PASSWORD, make_annotators, make_comparison, make_voted_pairs

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Runs before any page script, through DevTools (so the policy does not apply to it): the
# browser fires securitypolicyviolation for every blocked script, style, handler or eval.
WATCH_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + e.sourceFile + ":" + e.lineNumber);
});
"""


class Violations:
    def __init__(self, page: Any) -> None:
        self.page = page
        self.console: list[str] = []
        page.add_init_script(WATCH_VIOLATIONS)
        page.on("console", self._on_console)

    def _on_console(self, message: Any) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.console.append(message.text)

    def all(self) -> list[str]:
        return self.console + self.page.evaluate("window.__cspViolations || []")


@pytest.fixture
def violations(page: Any) -> Iterator[Violations]:
    yield Violations(page)


class ContentSecurityPolicyBrowserTests:
    def test_the_annotator_page_labels_by_keyboard_with_no_violation(
        self, page: Any, violations: Violations, live_server: Any, project: Project, annotator: User
    ) -> None:
        for n in range(3):
            make_comparison(
                project, prompt=f"Question {n}?", a=f"**First** answer {n}", b=f"Second answer {n}"
            )
        log_in(page, live_server, annotator, f"/annotate/{project.slug}/")
        page.wait_for_selector("#task")
        page.keyboard.press("?")
        page.wait_for_selector("#help[open]")
        page.keyboard.press("Escape")
        for _ in range(2):
            lease = page.get_attribute("#task", "data-lease")
            page.keyboard.press("c")
            page.keyboard.press("2")
            page.wait_for_selector(f"#task:not([data-lease='{lease}'])")  # htmx swapped the next one in
        assert Judgment.objects.filter(annotator=annotator).count() == 2
        assert violations.all() == []

    def test_the_quality_page_picks_an_annotator_and_counts_pairs_with_no_violation(
        self, page: Any, violations: Violations, live_server: Any, project: Project, project_admin: User
    ) -> None:
        users = make_annotators(project, 3)
        make_voted_pairs(project, users, [["a", "a", "b"], ["b", "b", "b"], ["a", "b", ""]])
        log_in(page, live_server, project_admin, f"/annotate/{project.slug}/quality/")
        # The select once submitted its form from an onchange attribute; now from concord.js.
        page.select_option("select[name=annotator]", str(users[1].pk))
        page.wait_for_url(lambda url: f"annotator={users[1].pk}" in url)
        assert page.input_value("select[name=annotator]") == str(users[1].pk)
        # The filter form counts through htmx.
        counted = page.inner_text("#counts")
        page.fill("#filters input[name=min_agreement]", "0.9")
        page.locator("#filters input[name=min_agreement]").dispatch_event("change")
        page.wait_for_function(
            "(before) => document.querySelector('#counts').innerText !== before", arg=counted
        )
        assert violations.all() == []

    def test_it_sees_a_violation_when_there_is_one(
        self, page: Any, violations: Violations, live_server: Any, project: Project, annotator: User
    ) -> None:
        # The watch above is live: an inline script added to the page is blocked and recorded.
        make_comparison(project)
        log_in(page, live_server, annotator, f"/annotate/{project.slug}/")
        page.evaluate(
            "() => { const s = document.createElement('script'); s.textContent = 'window.ran = 1'; document.body.append(s); }"
        )
        page.wait_for_function("() => window.__cspViolations.length > 0")
        assert page.evaluate("() => window.ran === undefined")
        assert any(v.startswith("script-src") for v in violations.all())

    def test_the_api_docs_render_under_their_relaxed_policy(
        self, page: Any, violations: Violations, live_server: Any, staff: User
    ) -> None:
        staff.is_superuser = True
        staff.save(update_fields=["is_superuser"])
        log_in(page, live_server, staff, "/api/docs/")
        page.wait_for_selector("text=Concord API")
        # Refused: only what Redoc and drf-spectacular's template fetch from other hosts (web
        # fonts, Redoc's logo); nothing inline, nothing evaluated, nothing of ours.
        third_party = ("https://fonts.googleapis.com", "https://cdn.redoc.ly")
        assert [v for v in violations.all() if not any(host in v for host in third_party)] == []

    def test_the_admin_works_with_no_violation(
        self, page: Any, violations: Violations, live_server: Any, staff: User, project: Any
    ) -> None:
        # ``project``: the import upload opens only for someone who administers a project.
        staff.is_superuser = True
        staff.save(update_fields=["is_superuser"])
        page.goto(f"{live_server.url}/admin/login/?next=/admin/")
        page.fill("#id_username", staff.get_username())
        page.fill("#id_password", PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(lambda url: url.endswith("/admin/") and "/login/" not in url)
        for url in ("/admin/annotate/project/add/", "/admin/annotate/importjob/upload/", "/admin/auth/user/"):
            page.goto(f"{live_server.url}{url}")
            page.wait_for_selector("#content")
        # The admin's own scripts ran: the change list's select-all box works.
        page.check("#action-toggle")
        assert page.locator("input.action-select:checked").count() >= 1
        assert violations.all() == []
