"""The rounds page in a real browser: an admin presses start, sees the round in the timeline, and its status
box follows the round through htmx polling until it is done; nothing breaks the Content-Security-Policy."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from alignment.models import AlignmentRound, RoundState, RunStep
from annotate.models import Project
from tests.alignment.pages import make_running_run
from tests.config.test_csp_browser import Violations, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


class RoundsPageBrowserTests:
    def test_start_shows_the_round_and_its_status_follows_it_until_done(
        self, page: Any, live_server: Any, project: Project, project_admin: User, settings: Any, tmp_path: Any
    ) -> None:
        settings.CONCORD_MODEL_ROOT = tmp_path
        violations = Violations(page)
        log_in(page, live_server, project_admin, f"/alignment/{project.slug}/rounds/")
        assert page.locator("#no-rounds").is_visible()
        # No worker runs here: the round stays where the test puts it.
        page.click("#round-start button")
        page.wait_for_selector("#round-1")
        round_ = AlignmentRound.objects.get(project=project)
        assert round_.number == 1 and round_.started_by == project_admin
        assert "Round 1 started" in page.inner_text("#messages")
        assert page.get_attribute("#round-status-1", "hx-trigger") == "every 2s"

        # A worker takes the reward model: the box shows its run within a poll or two, without a reload.
        AlignmentRound.objects.filter(pk=round_.pk).update(state=RoundState.TRAINING_REWARD)
        make_running_run(
            round_, RunStep.REWARD, started=30, heartbeat=1, now=timezone.now(), processed=3, total=6
        )
        page.wait_for_selector("#round-status-1[data-state='training_reward'] progress[value='50']")
        assert "step 3 of 6" in page.inner_text("#round-status-1")

        AlignmentRound.objects.filter(pk=round_.pk).update(state=RoundState.DONE, finished_at=timezone.now())
        page.wait_for_selector("#round-status-1[data-state='done']")
        assert page.get_attribute("#round-status-1", "hx-trigger") is None  # polling stopped
        assert violations.all() == []
