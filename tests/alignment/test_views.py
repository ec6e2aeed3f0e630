"""The rounds pages: who may open and press what, what they show, the plan form's errors by key."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.test import Client
from django.utils import timezone

from alignment.models import (
    AlignmentPlan,
    AlignmentRound,
    ModelVersion,
    RoundState,
    RunStep,
    VersionStatus,
)
from annotate.models import Project, Response, ResponseSource
from tests.alignment.pages import make_finished_round, make_round, make_running_run, make_version
from tests.factories import make_comparison

pytestmark = pytest.mark.django_db

ROUNDS = "/alignment/demo/rounds/"


def _plan_form(**changes: Any) -> dict[str, Any]:
    values = {
        "enabled": "on",
        "base_policy": "concord/tiny",
        "reference_model": "",
        "reward_base": "concord/tiny-reward",
        "algorithm": "ppo",
        "reward_config": '{"max_steps": 6}',
        "policy_config": '{"max_steps": 2, "kl_coef": 0.1}',
        "generate_config": '{"response_length": 12}',
        "snapshot_filters": "{}",
        "min_new_pairs": 20,
        "min_agreement": 0.6,
        "cooldown_minutes": 5,
        "schedule": "",
        "prompts_per_round": 8,
        "candidates_per_prompt": 2,
        "heldout_share": 0.2,
        "eval_prompts": 8,
        "comparison_priority": 100,
        "kl_budget": 4.0,
        "min_win_rate_low": 0.5,
    }
    values.update(changes)
    return values


# (method, path, data) of every page and button; the world below has round 1 and policy v1.
URLS: list[tuple[str, str, dict[str, Any]]] = [
    ("get", ROUNDS, {}),
    ("post", "/alignment/demo/rounds/start/", {}),
    ("get", "/alignment/demo/rounds/1/", {}),
    ("get", "/alignment/demo/rounds/1/status/", {}),
    ("post", "/alignment/demo/rounds/1/cancel/", {}),
    ("post", "/alignment/demo/rounds/1/retry/", {}),
    ("get", "/alignment/demo/plan/", {}),
    ("post", "/alignment/demo/plan/", _plan_form()),
    ("get", "/alignment/demo/versions/compare/", {}),
    ("get", "/alignment/demo/versions/policy/1/", {}),
    ("post", "/alignment/demo/versions/policy/1/promote/", {}),
    ("post", "/alignment/demo/versions/policy/1/reject/", {"reason": "worse"}),
]


def _web(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


class _RolledBack(Exception):
    pass


class RoundsPageAccessTests:
    def test_each_role_gets_what_access_allows_on_every_page_and_button(
        self, project: Project, outsider: User, annotator: User, project_admin: User, superuser: User
    ) -> None:
        make_finished_round(project)
        got, expected = {}, {}
        for method, path, data in URLS:
            headers = {"HX-Request": "true"} if path.endswith("/status/") else {}
            allowed = 302 if method == "post" else 200
            roles = {None: 302, outsider: 404, annotator: 403, project_admin: allowed, superuser: allowed}
            for user, code in roles.items():
                expected[(path, method, str(user))] = code
                # Each call sees the same world: what a button changed is rolled back.
                try:
                    with transaction.atomic():
                        response = getattr(_web(user), method)(path, data, headers=headers)
                        raise _RolledBack
                except _RolledBack:
                    pass
                got[(path, method, str(user))] = response.status_code
                if user is None:
                    assert response["Location"].startswith("/accounts/login/"), path
        assert got == expected

    def test_an_annotator_never_sees_a_model_version(self, project: Project, annotator: User) -> None:
        make_finished_round(project)
        for _, path, _ in URLS:
            body = _web(annotator).get(path).content.decode()
            assert "policy v" not in body and "concord/tiny" not in body

    def test_a_round_or_version_of_another_project_is_not_found(
        self, project: Project, project_admin: User
    ) -> None:
        other = Project.objects.create(name="Other", slug="other")
        make_finished_round(other)
        web = _web(project_admin)
        assert web.get("/alignment/demo/rounds/1/").status_code == 404
        assert web.get("/alignment/demo/versions/policy/1/").status_code == 404
        assert web.get("/alignment/demo/versions/checkpoint/1/").status_code == 404


class RoundsPageTests:
    def test_it_shows_the_timeline_charts_ladder_and_versions(
        self, project: Project, project_admin: User
    ) -> None:
        make_finished_round(project)
        make_round(
            project, 2, RoundState.FAILED, failed_step=RoundState.TRAINING_REWARD, error="ValueError: gone"
        )
        body = _web(project_admin).get(ROUNDS).content.decode()
        assert 'id="round-1"' in body and 'data-state="done"' in body
        assert 'id="round-2"' in body and "at training the reward model" in body
        assert "0.65 (0.47–0.79, 30)" in body  # human win rate with its interval and votes
        for chart in ("chart-rm-accuracy", "chart-reward", "chart-kl", "chart-win-rate", "chart-ladder"):
            assert f'id="{chart}"><svg' in body
        assert 'data-version="policy-1"' in body and 'data-version="reward-1"' in body
        assert "Retry from training the reward model" in body and 'id="round-start"' in body
        # The failed round holds the lock: the box says why no round starts by itself.
        assert "the plan" in body and "Failed while training the reward model: ValueError: gone" in body

    def test_a_reader_sees_no_buttons(self, project: Project, staff_reader: User) -> None:
        make_finished_round(project)
        body = _web(staff_reader).get(ROUNDS).content.decode()
        assert 'id="round-1"' in body
        assert 'id="round-start"' not in body and "round-cancel" not in body

    def test_it_says_why_the_next_round_has_not_started(self, project: Project, project_admin: User) -> None:
        AlignmentPlan.objects.create(project=project, enabled=True, min_new_pairs=500)
        body = _web(project_admin).get(ROUNDS).content.decode()
        assert "0 of 500 new agreed pairs" in body
        AlignmentPlan.objects.filter(project=project).update(enabled=False)
        assert "the plan is paused" in _web(project_admin).get(ROUNDS).content.decode()

    def test_the_running_step_is_polled_with_its_progress_eta_and_heartbeat(
        self, project: Project, project_admin: User
    ) -> None:
        now = timezone.now()
        round_ = make_round(
            project, 1, RoundState.TRAINING_POLICY, step_started_at=now - timedelta(minutes=3)
        )
        make_running_run(
            round_, RunStep.POLICY, started=60, heartbeat=3, now=now,
            processed=30, total=90, last_event={"event": "step", "step": 30, "kl": 0.5},
        )  # fmt: skip
        web = _web(project_admin)
        body = web.get(ROUNDS).content.decode()
        assert 'hx-get="/alignment/demo/rounds/1/status/"' in body and 'hx-trigger="every 2s"' in body
        fragment = web.get(
            "/alignment/demo/rounds/1/status/", headers={"HX-Request": "true"}
        ).content.decode()
        assert 'value="33"' in fragment and "step 30 of 90" in fragment
        # 30 steps in 60 s: 60 more take about 2 min (this slow machine adds a few seconds between the two).
        assert re.search(r"about 2 min( \d+ s)? left", fragment), fragment
        assert re.search(r"last heartbeat \d+ s ago", fragment) and "kl 0.5" in fragment
        assert "<html" not in fragment
        # The run finishes and the round moves on to done: the fragment stops asking.
        AlignmentRound.objects.filter(pk=round_.pk).update(state=RoundState.DONE)
        fragment = web.get(
            "/alignment/demo/rounds/1/status/", headers={"HX-Request": "true"}
        ).content.decode()
        assert "hx-trigger" not in fragment and 'data-state="done"' in fragment

    def test_the_status_without_htmx_is_the_rounds_own_page(
        self, project: Project, project_admin: User
    ) -> None:
        make_round(project, 1, RoundState.SNAPSHOTTING)
        response = _web(project_admin).get("/alignment/demo/rounds/1/status/")
        assert response.status_code == 302 and response["Location"] == "/alignment/demo/rounds/1/"


class RoundButtonTests:
    def test_start_makes_round_one_and_a_second_start_says_why_not(
        self, project: Project, project_admin: User, settings: Any, tmp_path: Any
    ) -> None:
        settings.CONCORD_MODEL_ROOT = tmp_path
        web = _web(project_admin)
        response = web.post("/alignment/demo/rounds/start/", follow=True)
        round_ = AlignmentRound.objects.get(project=project)
        assert (round_.number, round_.trigger, round_.started_by) == (1, "manual", project_admin)
        body = response.content.decode()
        assert "Round 1 started" in body and 'id="round-1"' in body
        body = web.post("/alignment/demo/rounds/start/", follow=True).content.decode()
        assert "No round was started: round 1 is unfinished" in body
        assert AlignmentRound.objects.filter(project=project).count() == 1

    def test_cancel_stops_an_unfinished_round_and_refuses_a_done_one(
        self, project: Project, project_admin: User
    ) -> None:
        make_round(project, 1, RoundState.DONE)
        running = make_round(project, 2, RoundState.TRAINING_REWARD)
        web = _web(project_admin)
        body = web.post("/alignment/demo/rounds/2/cancel/", {"back": "round"}, follow=True).content.decode()
        running.refresh_from_db()
        assert running.state == RoundState.CANCELLED and "Round 2 cancelled" in body
        assert 'id="round-summary"' in body  # back on the round's own page
        body = web.post("/alignment/demo/rounds/1/cancel/", follow=True).content.decode()
        assert "there is nothing to cancel" in body and 'id="timeline"' in body

    def test_retry_runs_a_failed_round_again_from_its_step(
        self, project: Project, project_admin: User, django_capture_on_commit_callbacks: Any
    ) -> None:
        failed = make_round(project, 1, RoundState.FAILED, failed_step=RoundState.EVALUATING, error="boom")
        with django_capture_on_commit_callbacks(execute=False) as sent:
            body = _web(project_admin).post("/alignment/demo/rounds/1/retry/", follow=True).content.decode()
        failed.refresh_from_db()
        assert failed.state == RoundState.EVALUATING and failed.error == "" and len(sent) == 1
        assert "Round 1 runs again from evaluating" in body
        body = _web(project_admin).post("/alignment/demo/rounds/1/retry/", follow=True).content.decode()
        assert "only a failed round can be retried" in body


class VersionPageTests:
    def test_it_shows_the_lineage_and_config(self, project: Project, project_admin: User) -> None:
        make_finished_round(project)
        body = _web(project_admin).get("/alignment/demo/versions/policy/1/").content.decode()
        assert 'href="/alignment/demo/versions/policy/0/">policy v0</a>' in body  # the parent
        assert 'href="/alignment/demo/versions/reward/1/">reward v1</a>' in body  # its reward model
        assert 'href="/alignment/demo/rounds/1/">round 1</a>' in body
        assert "<code>kl_coef</code>" in body and "win-rate lower bound 0.550" in body
        assert "?a=1&amp;b=0" in body  # samples beside the parent

    def test_promote_and_reject_move_the_champion(self, project: Project, project_admin: User) -> None:
        _, base, policy = make_finished_round(project)
        candidate = make_version(project, 2, status=VersionStatus.REJECTED, parent=policy)
        web = _web(project_admin)
        body = web.post("/alignment/demo/versions/policy/2/promote/", follow=True).content.decode()
        assert "policy v2 is now the champion" in body
        assert ModelVersion.objects.get(pk=candidate.pk).status == VersionStatus.CHAMPION
        assert ModelVersion.objects.get(pk=policy.pk).status == VersionStatus.ARCHIVED
        body = web.post(
            "/alignment/demo/versions/policy/2/reject/", {"reason": ""}, follow=True
        ).content.decode()
        assert "Say why the version is rejected" in body
        assert ModelVersion.objects.get(pk=candidate.pk).status == VersionStatus.CHAMPION
        body = web.post(
            "/alignment/demo/versions/policy/2/reject/", {"reason": "talks like a pirate"}, follow=True
        ).content.decode()
        assert "policy v2 is rejected" in body
        # A rejected champion hands the title back to its parent.
        assert ModelVersion.objects.get(pk=candidate.pk).status_reason == "talks like a pirate"
        assert ModelVersion.objects.get(pk=policy.pk).status == VersionStatus.CHAMPION
        assert base.status == VersionStatus.ARCHIVED

    def test_rejecting_the_base_champion_is_refused_with_the_reason(
        self, project: Project, project_admin: User
    ) -> None:
        make_version(project, 0, status=VersionStatus.CHAMPION)
        body = (
            _web(project_admin)
            .post("/alignment/demo/versions/policy/0/reject/", {"reason": "meh"}, follow=True)
            .content.decode()
        )
        assert "the plan&#x27;s base policy, where every lineage starts; it cannot be rejected" in body
        assert ModelVersion.objects.get(number=0).status == VersionStatus.CHAMPION

    def test_compare_shows_two_versions_answers_to_the_same_prompt(
        self, project: Project, project_admin: User
    ) -> None:
        _, base, policy = make_finished_round(project)
        shared = make_comparison(project, prompt="What is **rain**?", a="x", b="y")
        for text, version in (("<b>water</b> falling", base), ("drops of water", policy)):
            Response.objects.create(
                prompt=shared.prompt, text=text, content_hash=text, source=ResponseSource.MODEL,
                model_version=version, metadata={"score": 0.25},
            )  # fmt: skip
        body = _web(project_admin).get("/alignment/demo/versions/compare/").content.decode()
        # Opens with the newest policy beside its parent.
        assert f'data-prompt="{shared.prompt_id}"' in body
        first, second = body.index('class="first"'), body.index('class="second"')
        assert body.index("drops of water") in range(first, second)
        # User text is shown as text, never as HTML.
        assert body.index("&lt;b&gt;water&lt;/b&gt; falling") > second and "<b>water</b>" not in body
        assert "reward 0.250" in body
        body = _web(project_admin).get("/alignment/demo/versions/compare/?a=1&b=1").content.decode()
        assert "Pick two different versions" in body
        # Digits int() refuses ("²" is a digit to str.isdigit) or a bigint cannot hold pick nothing.
        for picked in ("a=%C2%B2", "a=" + "9" * 5000):
            page = _web(project_admin).get(f"/alignment/demo/versions/compare/?{picked}")
            assert page.status_code == 200 and "drops of water" in page.content.decode()  # the default pair
        assert _web(project_admin).get("/alignment/demo/versions/compare/?a=1&b=%C2%B2").status_code == 200


class PlanPageTests:
    def test_a_good_plan_is_saved(self, project: Project, project_admin: User) -> None:
        response = _web(project_admin).post("/alignment/demo/plan/", _plan_form(), follow=True)
        plan = AlignmentPlan.objects.get(project=project)
        assert plan.enabled and plan.policy_config == {"max_steps": 2, "kl_coef": 0.1}
        assert plan.min_new_pairs == 20 and "The plan is saved" in response.content.decode()
        assert "0 of 20 new agreed pairs" in response.content.decode()

    @pytest.mark.parametrize(
        ("field", "raw", "key"),
        [
            ("policy_config", '{"learning_rat": 0.1}', "learning_rat"),
            ("policy_config", '{"kl_coef": "lots"}', "kl_coef"),
            ("reward_config", '{"model_name": "other"}', "model_name"),
            ("generate_config", '{"temperature": -1}', "temperature"),
            ("snapshot_filters", '{"min_votez": 2}', "min_votez"),
        ],
    )
    def test_a_bad_config_key_is_named_and_nothing_is_saved(
        self, project: Project, project_admin: User, field: str, raw: str, key: str
    ) -> None:
        response = _web(project_admin).post("/alignment/demo/plan/", _plan_form(**{field: raw}))
        assert response.status_code == 400
        body = response.content.decode()
        assert f'data-field="{field}" data-key="{key}"' in body
        assert f'class="error config-key" data-key="{key}"' in body
        assert "Nothing was saved" in body
        assert not AlignmentPlan.objects.filter(project=project).exists()

    def test_a_bad_value_keeps_the_saved_plan_as_it_was(self, project: Project, project_admin: User) -> None:
        AlignmentPlan.objects.create(project=project, min_new_pairs=7, policy_config={"max_steps": 3})
        web = _web(project_admin)
        for bad in (
            {"policy_config": '{"max_steps": 2, "nope": 1}'},
            {"policy_config": "{not json"},
            {"min_agreement": 1.5},
            {"schedule": "every day"},
        ):
            assert (
                web.post("/alignment/demo/plan/", _plan_form(min_new_pairs=99, **bad)).status_code == 400
            ), bad
        plan = AlignmentPlan.objects.get(project=project)
        assert plan.min_new_pairs == 7 and plan.policy_config == {"max_steps": 3}

    def test_the_schedule_error_is_shown_on_its_field(self, project: Project, project_admin: User) -> None:
        body = (
            _web(project_admin).post("/alignment/demo/plan/", _plan_form(schedule="1 2 3")).content.decode()
        )
        assert 'data-field="schedule"' in body and "a cron schedule has 5 fields" in body

    def test_a_reader_sees_the_plan_but_no_save_button(self, project: Project, staff_reader: User) -> None:
        body = _web(staff_reader).get("/alignment/demo/plan/").content.decode()
        assert "<fieldset disabled>" in body and "Save the plan" not in body
        assert "No plan is saved yet" in body


class NavigationTests:
    def test_the_project_nav_and_home_link_the_rounds_page_for_admins_only(
        self, project: Project, project_admin: User, annotator: User
    ) -> None:
        link = 'href="/alignment/demo/rounds/"'
        assert link in _web(project_admin).get("/annotate/").content.decode()
        assert link in _web(project_admin).get("/annotate/demo/quality/").content.decode()
        assert link in _web(project_admin).get(ROUNDS).content.decode()
        assert link not in _web(annotator).get("/annotate/").content.decode()
