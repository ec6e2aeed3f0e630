"""The alignment admin: scoped to the projects one reads, plans checked by key, versions moved only through the
version services, rounds and runs read-only with cancel and retry as actions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from alignment.models import (
    AlignmentPlan,
    AlignmentRound,
    ModelVersion,
    RoundState,
    RunStep,
    TrainingRun,
    VersionKind,
    VersionStatus,
)
from alignment.services.rounds import round_start
from alignment.services.versions import version_create
from annotate.models import Project, Role
from tests.alignment.rounds import make_tiny_plan
from tests.factories import add_member, make_project, make_user

pytestmark = pytest.mark.django_db

ALIGNMENT_PERMS = [
    f"{action}_{model}"
    for action in ("view", "change")
    for model in ("alignmentplan", "modelversion", "alignmentround", "trainingrun")
]


def _web(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def clerk(project: Project) -> User:
    """Staff who administers ``project`` and has the alignment screens."""
    user = make_user("clerk", staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="alignment", codename__in=ALIGNMENT_PERMS)
    )
    add_member(project, user, Role.ADMIN)
    return user


@pytest.fixture
def world(project: Project) -> dict[str, Any]:
    """Two projects with a plan, a pending round, a training run and a candidate policy each."""
    made: dict[str, Any] = {}
    for p in (project, make_project(slug="elsewhere")):
        make_tiny_plan(p)
        round_ = round_start(project=p)
        candidate = version_create(
            project=p, kind=VersionKind.POLICY, champion=False, path=f"{p.slug}/round-1/policy",
            parent=round_.start_policy, round=round_,
        )  # fmt: skip
        run = TrainingRun.objects.create(
            round=round_, step=RunStep.REWARD, out_dir=f"{p.slug}/round-1/reward"
        )
        made[p.slug] = {
            "round": round_, "candidate": candidate, "base": round_.start_policy, "run": run,
            "plan": AlignmentPlan.objects.get(project=p),
        }  # fmt: skip
    return made


def _plan_form(plan: AlignmentPlan, **overrides: Any) -> dict[str, Any]:
    form: dict[str, Any] = {}
    for field in AlignmentPlan._meta.concrete_fields:
        if not field.editable or field.primary_key or field.name == "project":
            continue
        value = getattr(plan, field.name)
        if isinstance(value, dict):
            value = json.dumps(value)
        if isinstance(value, bool):
            if value:
                form[field.name] = "on"
            continue
        form[field.name] = value
    form.update(overrides)
    return form


class AlignmentAdminScopeTests:
    @pytest.mark.parametrize(
        ("model", "key"),
        [
            ("alignmentplan", "plan"),
            ("modelversion", "candidate"),
            ("alignmentround", "round"),
            ("trainingrun", "run"),
        ],
    )
    def test_each_list_shows_only_the_projects_one_reads(
        self, world: dict[str, Any], clerk: User, superuser: User, model: str, key: str
    ) -> None:
        mine, theirs = world["demo"][key], world["elsewhere"][key]
        every = _web(superuser).get(f"/admin/alignment/{model}/").content.decode()
        assert f"/admin/alignment/{model}/{mine.pk}/change/" in every
        assert f"/admin/alignment/{model}/{theirs.pk}/change/" in every
        listed = _web(clerk).get(f"/admin/alignment/{model}/").content.decode()
        assert f"/admin/alignment/{model}/{mine.pk}/change/" in listed
        assert f"/admin/alignment/{model}/{theirs.pk}/change/" not in listed
        assert _web(clerk).get(f"/admin/alignment/{model}/{mine.pk}/change/").status_code == 200
        # Another project's row answers as if it did not exist (the admin redirects to its index).
        assert _web(clerk).get(f"/admin/alignment/{model}/{theirs.pk}/change/").status_code == 302

    def test_rounds_are_shown_never_changed(self, world: dict[str, Any], clerk: User) -> None:
        round_ = world["demo"]["round"]
        web = _web(clerk)
        html = web.get(f"/admin/alignment/alignmentround/{round_.pk}/change/").content.decode()
        assert 'name="state"' not in html and "field-state" in html
        assert (
            web.post(f"/admin/alignment/alignmentround/{round_.pk}/change/", {"state": "done"}).status_code
            == 403
        )


class AlignmentPlanAdminTests:
    def test_a_bad_config_key_is_named_and_nothing_is_saved(self, world: dict[str, Any], clerk: User) -> None:
        plan = AlignmentPlan.objects.get(project__slug="demo")
        response = _web(clerk).post(
            f"/admin/alignment/alignmentplan/{plan.pk}/change/",
            _plan_form(plan, reward_config='{"max_stepz": 3}', min_new_pairs=77),
        )
        assert response.status_code == 200
        assert "max_stepz" in response.content.decode()
        assert AlignmentPlan.objects.get(pk=plan.pk).min_new_pairs == plan.min_new_pairs

    def test_a_good_change_is_saved_through_plan_update_with_its_schedule(
        self, world: dict[str, Any], clerk: User
    ) -> None:
        plan = AlignmentPlan.objects.get(project__slug="demo")
        response = _web(clerk).post(
            f"/admin/alignment/alignmentplan/{plan.pk}/change/",
            _plan_form(plan, min_new_pairs=77, schedule="0 3 * * *"),
        )
        assert response.status_code == 302
        plan.refresh_from_db()
        assert plan.min_new_pairs == 77
        assert plan.periodic_task is not None and plan.periodic_task.crontab.hour == "3"


class ModelVersionAdminTests:
    def test_making_a_champion_archives_the_last(self, world: dict[str, Any], clerk: User) -> None:
        candidate: ModelVersion = world["demo"]["candidate"]
        response = _web(clerk).post(
            f"/admin/alignment/modelversion/{candidate.pk}/change/",
            {"status": "champion", "status_reason": ""},
        )
        assert response.status_code == 302
        assert ModelVersion.objects.get(pk=candidate.pk).status == VersionStatus.CHAMPION
        assert ModelVersion.objects.get(pk=world["demo"]["base"].pk).status == VersionStatus.ARCHIVED

    @pytest.mark.parametrize(
        ("which", "form", "error"),
        [
            ("candidate", {"status": "rejected", "status_reason": " "}, "Say why the version is rejected."),
            ("candidate", {"status": "archived", "status_reason": "x"}, "the next champion archives it"),
            ("base", {"status": "rejected", "status_reason": "bad"}, "it cannot be rejected"),
        ],
    )
    def test_it_refuses_what_the_lineage_does_not_allow(
        self, world: dict[str, Any], clerk: User, which: str, form: dict[str, str], error: str
    ) -> None:
        version: ModelVersion = world["demo"][which]
        response = _web(clerk).post(f"/admin/alignment/modelversion/{version.pk}/change/", form)
        assert response.status_code == 200 and error in response.content.decode()
        assert ModelVersion.objects.get(pk=version.pk).status == version.status

    def test_a_rejection_with_a_reason_is_kept(self, world: dict[str, Any], clerk: User) -> None:
        candidate: ModelVersion = world["demo"]["candidate"]
        _web(clerk).post(
            f"/admin/alignment/modelversion/{candidate.pk}/change/",
            {"status": "rejected", "status_reason": "too long"},
        )
        candidate.refresh_from_db()
        assert (candidate.status, candidate.status_reason) == (VersionStatus.REJECTED, "too long")


class RoundActionTests:
    def test_cancel_acts_only_on_the_rounds_one_administers(
        self, world: dict[str, Any], clerk: User, project: Project
    ) -> None:
        mine, theirs = world["demo"]["round"], world["elsewhere"]["round"]
        response = _web(clerk).post(
            "/admin/alignment/alignmentround/",
            {"action": "cancel_rounds", "_selected_action": [mine.pk, theirs.pk]},
            follow=True,
        )
        assert response.status_code == 200
        assert AlignmentRound.objects.get(pk=mine.pk).state == RoundState.CANCELLED
        assert AlignmentRound.objects.get(pk=theirs.pk).state == RoundState.PENDING

    def test_retry_says_why_a_round_is_refused(self, world: dict[str, Any], clerk: User) -> None:
        round_ = world["demo"]["round"]
        html = (
            _web(clerk)
            .post(
                "/admin/alignment/alignmentround/",
                {"action": "retry_rounds", "_selected_action": [round_.pk]},
                follow=True,
            )
            .content.decode()
        )
        assert "only a failed round can be retried" in html
