"""The alignment API: who may use each endpoint, the plan's errors by key, rounds started once, versions moved
by hand, and no model version in an annotator's payload."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from rest_framework.test import APIClient

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
from annotate.models import JobStatus, Project, Response
from tests.alignment.rounds import TINY_REWARD, make_tiny_plan
from tests.factories import make_comparison

pytestmark = pytest.mark.django_db


def _client(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def rounds_world(project: Project, project_admin: User) -> dict[str, Any]:
    """A tiny plan, round 1 pending (its step is never sent: the test's transaction does not commit), its runs,
    and a candidate policy v1 trained from the base v0."""
    make_tiny_plan(project)
    round_ = round_start(project=project, user=project_admin)
    TrainingRun.objects.create(
        round=round_, step=RunStep.REWARD, status=JobStatus.RUNNING, attempts=1, total=6, processed=2,
        last_event={"loss": 0.69}, out_dir="demo/round-1/reward",
    )  # fmt: skip
    AlignmentRound.objects.filter(pk=round_.pk).update(
        state=RoundState.TRAINING_REWARD, metrics={"snapshotting": {"pairs": 12, "seconds": 0.4}}
    )
    assert round_.start_policy is not None
    candidate = version_create(
        project=project, kind=VersionKind.POLICY, champion=False, path="demo/round-1/policy",
        parent=round_.start_policy, round=round_, metrics={"kl": 0.2},
    )  # fmt: skip
    return {"round": round_, "base": round_.start_policy, "candidate": candidate}


P = "/api/projects/demo"
# (method, path under the project, body, what a project admin gets); {round} and {version} are filled in.
OPERATIONS = [
    ("get", "/plan/", None, 200),
    ("patch", "/plan/update/", {"min_new_pairs": 20}, 200),
    ("get", "/rounds/", None, 200),
    ("post", "/rounds/start/", None, 409),  # round 1 is unfinished
    ("get", "/rounds/{round}/", None, 200),
    ("post", "/rounds/{round}/cancel/", None, 200),
    ("post", "/rounds/{round}/retry/", None, 409),  # only a failed round
    ("get", "/versions/", None, 200),
    ("get", "/versions/{version}/", None, 200),
    ("post", "/versions/{version}/promote/", None, 200),
    ("post", "/versions/{version}/reject/", {"reason": "worse on long prompts"}, 200),
]


class AlignmentApiAccessTests:
    @pytest.mark.parametrize(
        ("method", "path", "body", "ok"), OPERATIONS, ids=[f"{m} {p}" for m, p, _, _ in OPERATIONS]
    )
    def test_each_role_gets_its_status(
        self, method: str, path: str, body: dict[str, Any] | None, ok: int, rounds_world: dict[str, Any],
        annotator: User, project_admin: User, outsider: User, superuser: User,
    ) -> None:  # fmt: skip
        url = P + path.format(round=rounds_world["round"].number, version=rounds_world["candidate"].pk)
        expected = {"anonymous": 401, "outsider": 404, "annotator": 403, "project_admin": ok, "superuser": ok}
        users = {"anonymous": None, "outsider": outsider, "annotator": annotator, "project_admin": project_admin,
                 "superuser": superuser}  # fmt: skip
        got = {}
        for role, user in users.items():
            # Each call sees the same world: what an allowed call changed (a cancelled round) is rolled back.
            point = transaction.savepoint()
            response = getattr(_client(user), method)(url, body, format="json")
            transaction.savepoint_rollback(point)
            got[role] = response.status_code
            if role == "anonymous":
                assert response.has_header("WWW-Authenticate")
        assert got == expected

    def test_a_staff_reader_reads_but_does_not_act(
        self, rounds_world: dict[str, Any], staff_reader: User
    ) -> None:
        web = _client(staff_reader)
        assert web.get(f"{P}/rounds/1/").status_code == 200
        assert web.post(f"{P}/rounds/1/cancel/").status_code == 403
        assert AlignmentRound.objects.get().state == RoundState.TRAINING_REWARD


class PlanApiTests:
    def test_it_shows_the_defaults_without_saving_a_plan_and_says_why_no_round_starts(
        self, project: Project, project_admin: User
    ) -> None:
        body = _client(project_admin).get(f"{P}/plan/").json()
        assert body["enabled"] is False and body["algorithm"] == "ppo" and body["updated_at"] is None
        assert body["reference"] == body["base_policy"]
        assert body["next_round"] == {
            "ready": False,
            "reason": "the plan is paused",
            "new_pairs": 0,
            "needed": 500,
        }
        assert not AlignmentPlan.objects.exists()

    def test_it_updates_the_plan(self, project: Project, project_admin: User) -> None:
        response = _client(project_admin).patch(
            f"{P}/plan/update/",
            {"enabled": True, "min_new_pairs": 3, "reward_config": TINY_REWARD},
            format="json",
        )
        assert response.status_code == 200, response.json()
        assert response.json()["next_round"]["reason"] == "0 of 3 new agreed pairs"
        plan = AlignmentPlan.objects.get(project=project)
        assert (plan.enabled, plan.min_new_pairs, plan.reward_config) == (True, 3, TINY_REWARD)

    @pytest.mark.parametrize(
        ("body", "field", "key"),
        [
            ({"reward_config": {"max_stepz": 3}}, "reward_config", "max_stepz"),
            ({"policy_config": {"seed": 1}}, "policy_config", "seed"),
            ({"snapshot_filters": {"min_votez": 1}}, "snapshot_filters", "min_votez"),
            ({"schedule": "every day"}, "schedule", ""),
            # Values the checks once let through to a 500: the database cannot store them, celery's
            # parser raises its own exception, the beat table's column is 64 characters.
            ({"reward_config": {"num_train_epochs": 10**400}}, "reward_config", "num_train_epochs"),
            ({"reward_config": {"lora_target_modules": "a\x00b"}}, "reward_config", "lora_target_modules"),
            ({"policy_config": {"learning_rate": 10**400}}, "policy_config", "learning_rate"),
            ({"snapshot_filters": {"drop_ties": "false"}}, "snapshot_filters", "drop_ties"),
            ({"snapshot_filters": {"drop_ties": False, "keep_unpaired": "yes"}}, "snapshot_filters", "keep_unpaired"),
            ({"schedule": "-1 * * * *"}, "schedule", ""),
            ({"schedule": "1,,2 * * * *"}, "schedule", ""),
            ({"schedule": "0 0 * * " + ",".join(["1"] * 40)}, "schedule", ""),
        ],
    )
    def test_a_bad_value_is_a_400_naming_the_field_and_key_and_nothing_is_saved(
        self, project: Project, project_admin: User, body: dict[str, Any], field: str, key: str
    ) -> None:
        make_tiny_plan(project, min_new_pairs=10)
        response = _client(project_admin).patch(
            f"{P}/plan/update/", {"min_new_pairs": 99, **body}, format="json"
        )
        assert response.status_code == 400
        error = response.json()
        assert set(error) == {"field", "key", "message"}
        assert (error["field"], error["key"]) == (field, key)
        assert key in error["message"]
        assert AlignmentPlan.objects.get(project=project).min_new_pairs == 10

    def test_an_infinite_number_is_a_400_and_a_refused_first_update_leaves_no_plan(
        self, project: Project, project_admin: User
    ) -> None:
        response = _client(project_admin).patch(
            f"{P}/plan/update/", '{"reward_config": {"num_train_epochs": 1e400}}', content_type="application/json"
        )
        assert response.status_code == 400
        assert (response.json()["field"], response.json()["key"]) == ("reward_config", "num_train_epochs")
        assert not AlignmentPlan.objects.filter(project=project).exists()

    def test_a_config_that_is_not_an_object_is_refused_by_shape(
        self, project: Project, project_admin: User
    ) -> None:
        response = _client(project_admin).patch(f"{P}/plan/update/", {"reward_config": [1]}, format="json")
        assert response.status_code == 400 and "reward_config" in response.json()


class RoundApiTests:
    def test_start_makes_a_pending_round_and_a_second_start_is_a_409_with_the_reason(
        self, project: Project, project_admin: User
    ) -> None:
        make_tiny_plan(project)
        web = _client(project_admin)
        first = web.post(f"{P}/rounds/start/")
        assert first.status_code == 201
        body = first.json()
        assert (body["number"], body["state"], body["trigger"], body["started_by"]) == (
            1,
            "pending",
            "manual",
            "padmin",
        )
        assert (
            body["start_policy"]["label"] == "policy v0" and body["runs"] == [] and body["batch"] == "round-1"
        )
        second = web.post(f"{P}/rounds/start/")
        assert second.status_code == 409
        assert second.json() == {"code": "round_unfinished", "detail": "round 1 is unfinished (pending)"}
        assert AlignmentRound.objects.count() == 1

    def test_detail_has_the_runs_and_metrics(self, rounds_world: dict[str, Any], project_admin: User) -> None:
        body = _client(project_admin).get(f"{P}/rounds/1/").json()
        assert body["state"] == "training_reward"
        assert body["metrics"] == {"snapshotting": {"pairs": 12, "seconds": 0.4}}
        assert body["plan"]["min_new_pairs"] == 10
        [run] = body["runs"]
        assert {k: run[k] for k in ("step", "status", "attempts", "processed", "total", "percent", "last_event")} == {
            "step": "reward", "status": "running", "attempts": 1, "processed": 2, "total": 6, "percent": 33,
            "last_event": {"loss": 0.69},
        }  # fmt: skip
        assert {"heartbeat_at", "error"} <= set(run)
        listed = _client(project_admin).get(f"{P}/rounds/").json()
        assert [r["number"] for r in listed] == [1] and "runs" not in listed[0]

    def test_cancel_then_cancel_again_is_a_409(
        self, rounds_world: dict[str, Any], project_admin: User
    ) -> None:
        web = _client(project_admin)
        assert web.post(f"{P}/rounds/1/cancel/").json()["state"] == "cancelled"
        again = web.post(f"{P}/rounds/1/cancel/")
        assert again.status_code == 409 and "nothing to cancel" in again.json()["detail"]

    def test_retry_runs_a_failed_round_from_its_failed_step(
        self, rounds_world: dict[str, Any], project_admin: User
    ) -> None:
        AlignmentRound.objects.update(
            state=RoundState.FAILED, failed_step=RoundState.TRAINING_REWARD, error="boom"
        )
        body = _client(project_admin).post(f"{P}/rounds/1/retry/").json()
        assert (body["state"], body["failed_step"], body["error"]) == ("training_reward", "", "")

    def test_an_unknown_round_is_a_404(self, rounds_world: dict[str, Any], project_admin: User) -> None:
        assert _client(project_admin).get(f"{P}/rounds/7/").status_code == 404
        assert _client(project_admin).post(f"{P}/rounds/7/cancel/").status_code == 404


class VersionApiTests:
    def test_list_and_detail_show_the_lineage(
        self, rounds_world: dict[str, Any], project_admin: User
    ) -> None:
        web = _client(project_admin)
        listed = web.get(f"{P}/versions/", {"kind": "policy"}).json()
        assert [(v["number"], v["status"]) for v in listed] == [(1, "candidate"), (0, "champion")]
        body = web.get(f"{P}/versions/{rounds_world['candidate'].pk}/").json()
        assert (
            body["parent"]["label"] == "policy v0" and body["round"] == 1 and body["metrics"] == {"kl": 0.2}
        )
        assert set(body["libraries"]) == {"torch", "transformers", "trl", "peft"}
        assert web.get(f"{P}/versions/", {"status": "rejected"}).json() == []
        assert web.get(f"{P}/versions/", {"kind": "nope"}).status_code == 400

    def test_promote_makes_a_champion_and_archives_the_last(
        self, rounds_world: dict[str, Any], project_admin: User
    ) -> None:
        body = _client(project_admin).post(f"{P}/versions/{rounds_world['candidate'].pk}/promote/").json()
        assert body["status"] == "champion" and body["status_reason"] == "promoted by hand"
        assert ModelVersion.objects.get(pk=rounds_world["base"].pk).status == VersionStatus.ARCHIVED

    def test_reject_needs_a_reason_and_a_parentless_champion_is_a_409(
        self, rounds_world: dict[str, Any], project_admin: User
    ) -> None:
        web = _client(project_admin)
        candidate, base = rounds_world["candidate"], rounds_world["base"]
        assert (
            web.post(f"{P}/versions/{candidate.pk}/reject/", {"reason": "  "}, format="json").status_code
            == 400
        )
        body = web.post(f"{P}/versions/{candidate.pk}/reject/", {"reason": "too long"}, format="json").json()
        assert (body["status"], body["status_reason"]) == ("rejected", "too long")
        refused = web.post(f"{P}/versions/{base.pk}/reject/", {"reason": "bad"}, format="json")
        assert refused.status_code == 409 and "cannot be rejected" in refused.json()["detail"]
        assert ModelVersion.objects.get(pk=base.pk).status == VersionStatus.CHAMPION

    def test_a_version_of_another_project_is_a_404(
        self, rounds_world: dict[str, Any], project_admin: User
    ) -> None:
        other = Project.objects.create(name="Other", slug="other")
        stray = version_create(project=other, kind=VersionKind.REWARD, champion=True, path="other/r")
        assert _client(project_admin).get(f"{P}/versions/{stray.pk}/").status_code == 404


class AnnotatorPayloadTests:
    def test_no_model_version_reaches_an_annotator(
        self, rounds_world: dict[str, Any], project: Project, annotator: User
    ) -> None:
        candidate: ModelVersion = rounds_world["candidate"]
        comparison = make_comparison(project, a="sampled by the new policy", b="sampled by the champion")
        Response.objects.filter(pk=comparison.response_a_id).update(model_version=candidate)
        Response.objects.filter(pk=comparison.response_b_id).update(model_version=rounds_world["base"])
        web = _client(annotator)
        task = web.post(f"{P}/next/").json()["task"]
        assert {"sampled by the new policy", "sampled by the champion"} == {
            task["response_left"],
            task["response_right"],
        }
        assert set(task) == {"assignment", "expires_at", "prompt", "response_left", "response_right"}
        submitted = web.post(f"/api/assignments/{task['assignment']}/submit/", {"choice": "a"}, format="json")
        assert submitted.status_code == 201
        for text in (str(task), submitted.content.decode()):
            assert "version" not in text and candidate.path not in text and "policy v" not in text
        assert web.get(f"{P}/versions/").status_code == 403
