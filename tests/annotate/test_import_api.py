from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from annotate.models import Comparison, ImportJob, JobStatus, Project
from tests.factories import make_pair_records

pytestmark = pytest.mark.django_db

# The callers of the role tables below, in their order.
ROLES = ["anonymous", "outsider", "annotator", "project_admin", "staff", "staff_reader", "superuser"]


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """The arguments of each import job sent to a worker (which never runs it)."""
    from annotate.tasks import imports as task_module

    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr(task_module.import_job_run_task, "delay", lambda *a, **k: sent.append((a, k)))
    return sent


def _by_role(*expected: int) -> list[tuple[str, int]]:
    """(role, expected status) for each of ROLES."""
    return list(zip(ROLES, expected, strict=True))


def _sign_in(client: Client, request: pytest.FixtureRequest, role: str) -> None:
    """Sign ``client`` in as the user of the fixture named ``role`` ("anonymous" stays signed out)."""
    if role == "anonymous":
        return
    user = request.getfixturevalue(role)
    if isinstance(client, APIClient):
        client.force_authenticate(user)
    else:
        client.force_login(user)


def _upload(records: list[dict[str, Any]] | str, name: str = "pairs.jsonl") -> SimpleUploadedFile:
    text = records if isinstance(records, str) else "".join(json.dumps(r) + "\n" for r in records)
    return SimpleUploadedFile(name, text.encode(), content_type="application/octet-stream")


def _api_import(api: APIClient, project: Project, upload: SimpleUploadedFile, **fields: str) -> Any:
    """The answer to posting ``upload`` as a pairs file to the project's import endpoint."""
    return api.post(
        f"/api/projects/{project.slug}/imports/",
        {"file": upload, "kind": "pairs", **fields},
        format="multipart",
    )


class ImportCreateApiTests:
    @pytest.mark.parametrize(("role", "expected"), _by_role(401, 404, 403, 201, 404, 403, 201))
    def test_it_lets_only_admins_import(
        self, request: pytest.FixtureRequest, project: Project, api: APIClient, role: str, expected: int
    ) -> None:
        _sign_in(api, request, role)
        response = _api_import(api, project, _upload(make_pair_records(3)))
        assert response.status_code == expected, response.content
        assert Comparison.objects.count() == (3 if expected == 201 else 0)

    def test_it_imports_a_small_file_before_answering(
        self, project: Project, project_admin: User, api: APIClient
    ) -> None:
        api.force_authenticate(project_admin)
        response = _api_import(api, project, _upload(make_pair_records(2)), batch="b7")
        body = response.json()
        assert response.status_code == 201
        assert (body["status"], body["processed"], body["total"], body["percent"]) == ("succeeded", 2, 2, 100)
        assert body["counts"]["comparisons"] == 2
        assert set(Comparison.objects.values_list("batch", flat=True)) == {"b7"}

    def test_it_answers_400_with_the_problems_of_a_bad_file(
        self, project: Project, project_admin: User, api: APIClient
    ) -> None:
        api.force_authenticate(project_admin)
        bad = (
            '{"prompt": "q", "chosen": "a", "rejected": "b"}\n{"prompt": "q", "chosen": 1, "rejected": "b"}\n'
        )
        response = _api_import(api, project, _upload(bad))
        assert response.status_code == 400
        body = response.json()
        assert body["problems"] == [
            {"line": 2, "record": None, "field": "chosen", "message": "expected a string, got number"}
        ]
        assert body["detail"] == 'line 2, field "chosen": expected a string, got number; nothing was imported'
        assert body["job"]["status"] == "failed"
        assert Comparison.objects.count() == 0

    def test_it_refuses_a_file_over_the_size_limit_without_storing_it(
        self, project: Project, project_admin: User, api: APIClient, settings: Any
    ) -> None:
        settings.CONCORD_IMPORT_MAX_BYTES = 10
        api.force_authenticate(project_admin)
        upload = _upload(make_pair_records(1))
        response = _api_import(api, project, upload)
        assert response.status_code == 400
        assert response.json()["problems"][0]["message"] == (
            f"the file is {upload.size:,} bytes; the limit is 10 bytes (CONCORD_IMPORT_MAX_BYTES)"
        )
        assert ImportJob.objects.count() == 0

    def test_it_queues_a_large_file_for_a_worker(
        self, project: Project, project_admin: User, api: APIClient, settings: Any,
        queued: list[tuple[Any, ...]], django_capture_on_commit_callbacks: Any,
    ) -> None:  # fmt: skip
        settings.CONCORD_IMPORT_INLINE_MAX_RECORDS = 2
        api.force_authenticate(project_admin)
        with django_capture_on_commit_callbacks(execute=True):
            response = _api_import(api, project, _upload(make_pair_records(5)))
        assert response.status_code == 201
        assert response.json()["status"] == "queued"
        assert queued == [((response.json()["id"],), {})]  # the batch travels on the job row
        assert Comparison.objects.count() == 0


class ImportJobDetailApiTests:
    @pytest.mark.parametrize(("role", "expected"), _by_role(401, 404, 403, 200, 404, 200, 200))
    def test_it_shows_a_job_only_to_admins(
        self, request: pytest.FixtureRequest, project: Project, api: APIClient, role: str, expected: int
    ) -> None:
        job = ImportJob.objects.create(project=project, kind="pairs", format="jsonl", file="imports/x.jsonl")
        _sign_in(api, request, role)
        response = api.get(f"/api/imports/{job.pk}/")
        assert response.status_code == expected
        if expected == 200:
            assert response.json()["status"] == JobStatus.QUEUED


class ImportPageTests:
    @pytest.mark.parametrize(("role", "expected"), _by_role(302, 404, 403, 200, 404, 200, 200))
    def test_it_lets_only_admins_see_the_page(
        self, request: pytest.FixtureRequest, project: Project, web: Client, role: str, expected: int
    ) -> None:
        _sign_in(web, request, role)
        response = web.get(f"/annotate/{project.slug}/imports/")
        assert response.status_code == expected
        if role == "anonymous":
            assert response["Location"].startswith("/accounts/login/")

    def test_it_imports_an_upload_and_lists_the_job(
        self, project: Project, project_admin: User, web: Client
    ) -> None:
        web.force_login(project_admin)
        response = web.post(
            f"/annotate/{project.slug}/imports/",
            {"file": _upload(make_pair_records(4)), "kind": "pairs", "format": ""},
        )
        assert response.status_code == 302
        page = web.get(f"/annotate/{project.slug}/imports/").content.decode()
        assert "pairs.jsonl" in page and "Succeeded" in page and "4 new comparisons" in page

    def test_it_shows_the_problems_of_a_rejected_upload(
        self, project: Project, superuser: User, web: Client
    ) -> None:
        web.force_login(superuser)
        response = web.post(
            f"/annotate/{project.slug}/imports/", {"file": _upload("x", name="x.xlsx"), "kind": "pairs"}
        )
        assert response.status_code == 400
        assert "cannot tell the format of &quot;x.xlsx&quot;" in response.content.decode()

    @pytest.mark.parametrize(("role", "expected"), _by_role(302, 404, 403, 200, 404, 200, 200))
    def test_it_polls_a_running_job_with_a_progress_bar(
        self, request: pytest.FixtureRequest, project: Project, web: Client, role: str, expected: int
    ) -> None:
        job = ImportJob.objects.create(
            project=project, kind="pairs", format="jsonl", file="imports/x.jsonl", status=JobStatus.RUNNING,
            processed=250, total=1000,
        )  # fmt: skip
        _sign_in(web, request, role)
        response = web.get(
            f"/annotate/{project.slug}/imports/{job.pk}/status/", headers={"HX-Request": "true"}
        )
        assert response.status_code == expected
        if expected == 200:
            html = response.content.decode()
            assert 'hx-trigger="every 1s"' in html and 'class="bar"' in html and 'value="25"' in html
            assert "Writing: 250 / 1000 records" in html

    def test_it_stops_polling_and_shows_the_problems_when_a_job_failed(
        self, project: Project, project_admin: User, web: Client
    ) -> None:
        job = ImportJob.objects.create(
            project=project, kind="pairs", format="jsonl", file="imports/x.jsonl", status=JobStatus.FAILED,
            error_message="1 problem", errors=[{"line": 3, "record": None, "field": "chosen", "message": "must not be empty"}],
        )  # fmt: skip
        web.force_login(project_admin)
        html = web.get(
            f"/annotate/{project.slug}/imports/{job.pk}/status/", headers={"HX-Request": "true"}
        ).content.decode()
        assert "hx-trigger" not in html
        assert "<td>3</td><td></td><td>chosen</td><td>must not be empty</td>" in html


class ImportAdminUploadTests:
    @pytest.mark.parametrize(("role", "expected"), _by_role(302, 302, 302, 302, 403, 403, 200))
    def test_it_lets_only_staff_use_the_admin_upload(
        self, request: pytest.FixtureRequest, project: Project, web: Client, role: str, expected: int
    ) -> None:
        # Django's admin lets in staff only, and its upload only those who administer a project (superusers,
        # change_project); a project admin who is not staff imports from the staff page or API.
        _sign_in(web, request, role)
        response = web.get("/admin/annotate/importjob/upload/")
        assert response.status_code == expected
        if expected == 302:
            assert response["Location"].startswith("/admin/login/")

    def test_it_imports_an_upload_from_the_admin(
        self, project: Project, superuser: User, web: Client
    ) -> None:
        web.force_login(superuser)
        response = web.post(
            "/admin/annotate/importjob/upload/",
            {
                "project": project.pk,
                "file": _upload(make_pair_records(3)),
                "kind": "pairs",
                "format": "",
                "batch": "",
            },
        )
        assert response.status_code == 200
        assert "Import " in response.content.decode() and "Succeeded" in response.content.decode()
        assert Comparison.objects.count() == 3
        assert ImportJob.objects.get().created_by == superuser

    def test_it_shows_the_problems_in_the_admin(self, project: Project, superuser: User, web: Client) -> None:
        web.force_login(superuser)
        response = web.post(
            "/admin/annotate/importjob/upload/",
            {"project": project.pk, "file": _upload('{"prompt": "q"}\n'), "kind": "pairs"},
        )
        assert response.status_code == 400
        assert "missing required field" in response.content.decode()
        assert Comparison.objects.count() == 0


class ImportHostileApiTests:
    def test_it_answers_400_naming_the_line_and_field_of_a_nul(
        self, project: Project, project_admin: User, api: APIClient
    ) -> None:
        api.force_authenticate(project_admin)
        bad = '{"prompt": "q", "chosen": "a", "rejected": "b"}\n{"prompt": "q\\u0000", "chosen": "a", "rejected": "b"}\n'
        response = _api_import(api, project, _upload(bad))
        assert response.status_code == 400
        assert response.json()["problems"] == [
            {"line": 2, "record": None, "field": "prompt",
             "message": "contains a NUL character (\\u0000) at character 2, which cannot be stored"}
        ]  # fmt: skip
        assert ImportJob.objects.get().status == JobStatus.FAILED
        assert Comparison.objects.count() == 0

    def test_it_answers_400_for_json_nested_100k_deep(
        self, project: Project, project_admin: User, api: APIClient
    ) -> None:
        api.force_authenticate(project_admin)
        response = _api_import(api, project, _upload("[" * 100_000, name="deep.json"))
        assert response.status_code == 400
        assert response.json()["problems"][0]["message"].startswith("invalid JSON: nested too deeply")

    def test_it_queues_a_file_of_few_records_but_many_bytes_for_a_worker(
        self, project: Project, project_admin: User, api: APIClient, settings: Any,
        queued: list[tuple[Any, ...]], django_capture_on_commit_callbacks: Any,
    ) -> None:  # fmt: skip
        settings.CONCORD_IMPORT_INLINE_MAX_BYTES = 1000
        api.force_authenticate(project_admin)
        records = [{"prompt": "q", "chosen": "x" * 2000, "rejected": "b"}]
        with django_capture_on_commit_callbacks(execute=True):
            response = _api_import(api, project, _upload(records))
        assert response.status_code == 201
        assert response.json()["status"] == "queued" and len(queued) == 1
