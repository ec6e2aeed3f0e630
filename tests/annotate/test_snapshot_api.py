from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from annotate.aggregation.selection import SnapshotFilters
from annotate.models import ExportJob, JobStatus, Project, Snapshot
from annotate.services.exports import export_job_run
from annotate.services.snapshots import snapshot_create
from tests.annotate.services.export_helpers import unpaired_snapshot
from tests.factories import make_comparison, make_judgment

pytestmark = pytest.mark.django_db

LENIENT = SnapshotFilters(min_votes=1, min_agreement=0.0, drop_flagged=False)


@pytest.fixture
def snapshot(project: Project, annotator: User) -> Snapshot:
    make_judgment(make_comparison(project, prompt="Capital of France?", a="Paris", b="Lyon"), annotator, "a")
    return snapshot_create(project=project, filters=LENIENT)


@pytest.fixture
def finished_job(snapshot: Snapshot, settings: object, tmp_path: Path) -> ExportJob:
    settings.MEDIA_ROOT = tmp_path  # type: ignore[attr-defined]
    job = ExportJob.objects.create(snapshot=snapshot, format="jsonl", schema="hh", total=1)
    export_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    return job


@pytest.fixture
def exports_run_at_once(settings: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Export files under tmp_path, and an enqueued export runs in the request instead of a worker."""
    settings.MEDIA_ROOT = tmp_path  # type: ignore[attr-defined]
    from annotate.tasks import exports as export_tasks

    monkeypatch.setattr(
        export_tasks.export_job_run_task, "delay", lambda job_id: export_job_run(job_id=job_id)
    )


def _urls(snapshot: Snapshot, job: ExportJob) -> list[tuple[str, str, dict[str, object]]]:
    base = "/api/projects/demo"
    return [
        ("get", f"{base}/snapshots/", {}),
        ("post", f"{base}/snapshots/create/", {"min_votes": 1, "min_agreement": 0}),
        ("get", f"{base}/snapshots/{snapshot.version}/", {}),
        ("post", f"{base}/snapshots/{snapshot.version}/exports/", {"format": "jsonl", "schema": "hh"}),
        ("get", f"{base}/exports/{job.pk}/", {}),
        ("get", f"{base}/exports/{job.pk}/download/", {}),
        ("get", f"{base}/quality/", {}),
    ]


# The answers each caller may get at every URL of _urls: anonymous callers are refused, a non-member is not
# told the project exists, an annotator is told no, admins and superusers are served.
ANSWERS = {
    "anonymous": (401, 403),
    "outsider": (404,),
    "annotator": (403,),
    "project_admin": (200, 201, 202),
    "superuser": (200, 201, 202),
}


class SnapshotApiPermissionTests:
    @pytest.mark.parametrize("who", ANSWERS)
    def test_it_serves_only_admins_and_superusers(
        self,
        api: APIClient,
        snapshot: Snapshot,
        finished_job: ExportJob,
        who: str,
        request: pytest.FixtureRequest,
        django_capture_on_commit_callbacks: object,
    ) -> None:
        if who != "anonymous":
            api.force_authenticate(request.getfixturevalue(who))
        for method, url, data in _urls(snapshot, finished_job):
            response = getattr(api, method)(url, data, format="json")
            assert response.status_code in ANSWERS[who], (url, response.status_code)


class SnapshotApiTests:
    def test_it_creates_a_snapshot_with_the_given_filters(
        self, api: APIClient, snapshot: Snapshot, project_admin: User
    ) -> None:
        api.force_authenticate(project_admin)
        response = api.post(
            "/api/projects/demo/snapshots/create/",
            {"method": "dawid_skene", "min_votes": 1, "min_agreement": 0, "drop_flagged": False},
            format="json",
        )
        assert response.status_code == 201
        body = response.json()
        assert (body["version"], body["method"], body["pair_count"]) == (2, "dawid_skene", 1)
        assert body["filters"]["method"] == "dawid_skene"
        detail = api.get("/api/projects/demo/snapshots/2/").json()
        assert detail["diff"] == {
            "previous_version": 1,
            "added": 0,
            "removed": 0,
            "flipped": 0,
            "unchanged": 1,
        }

    def test_it_decontaminates_against_an_uploaded_benchmark(
        self, api: APIClient, project: Project, annotator: User, project_admin: User
    ) -> None:
        leaked = " ".join(f"word{i}" for i in range(13))
        make_judgment(make_comparison(project, prompt=leaked), annotator, "a")
        make_judgment(make_comparison(project, prompt="clean prompt"), annotator, "a")
        api.force_authenticate(project_admin)
        upload = SimpleUploadedFile("bench.txt", f"{leaked}\n".encode())
        response = api.post(
            "/api/projects/demo/snapshots/create/",
            {"min_agreement": 0, "drop_flagged": "false", "benchmark": upload},
            format="multipart",
        )
        assert response.status_code == 201, response.content
        assert response.json()["pair_count"] == 1
        assert response.json()["decontamination"]["dropped"] == 1

    def test_it_rejects_bad_filters(self, api: APIClient, snapshot: Snapshot, project_admin: User) -> None:
        api.force_authenticate(project_admin)
        response = api.post("/api/projects/demo/snapshots/create/", {"min_agreement": 2}, format="json")
        assert response.status_code == 400
        assert Snapshot.objects.count() == 1
        response = api.post(
            "/api/projects/demo/snapshots/create/", {"flagged_votes": "ignore"}, format="json"
        )
        assert response.status_code == 400 and "flagged_votes" in response.json()
        assert Snapshot.objects.count() == 1

    def test_it_takes_the_flagged_vote_mode_from_the_api_and_the_command(
        self, api: APIClient, snapshot: Snapshot, project_admin: User
    ) -> None:
        assert snapshot.filters["flagged_votes"] == "downweight"  # the default
        api.force_authenticate(project_admin)
        body = {"min_agreement": 0, "flagged_votes": "drop", "position_aware": True}
        response = api.post("/api/projects/demo/snapshots/create/", body, format="json")
        assert response.status_code == 201, response.content
        filters = response.json()["filters"]
        assert (filters["flagged_votes"], filters["position_aware"]) == ("drop", True)
        call_command("snapshot_create", "demo", "--flagged-votes", "drop", stdout=io.StringIO())
        assert Snapshot.objects.get(project__slug="demo", version=3).filters["flagged_votes"] == "drop"

    def test_it_queues_an_export_and_reports_then_serves_it(
        self,
        api: APIClient,
        snapshot: Snapshot,
        project_admin: User,
        settings: object,
        tmp_path: Path,
        django_capture_on_commit_callbacks: object,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        settings.MEDIA_ROOT = tmp_path  # type: ignore[attr-defined]
        from annotate.tasks import exports as export_tasks

        monkeypatch.setattr(
            export_tasks.export_job_run_task, "delay", lambda job_id: export_job_run(job_id=job_id)
        )
        api.force_authenticate(project_admin)
        with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
            created = api.post(
                f"/api/projects/demo/snapshots/{snapshot.version}/exports/",
                {"format": "jsonl", "schema": "hh"},
                format="json",
            )
        assert created.status_code == 202 and created.json()["status"] == "queued"
        detail = api.get(f"/api/projects/demo/exports/{created.json()['id']}/").json()
        assert (detail["status"], detail["percent"]) == ("succeeded", 100)
        download = api.get(detail["download"])
        assert download.status_code == 200
        row = json.loads(b"".join(download.streaming_content))  # type: ignore[attr-defined]
        assert row["chosen"] == "\n\nHuman: Capital of France?\n\nAssistant: Paris"

    @pytest.mark.usefixtures("exports_run_at_once")
    def test_it_keeps_unpaired_rows_and_exports_them_with_counts_per_kind_of_vote(
        self,
        api: APIClient,
        project: Project,
        project_admin: User,
        django_capture_on_commit_callbacks: object,
    ) -> None:
        unpaired_snapshot(project, LENIENT)  # the same votes, without keep_unpaired: version 1, one pair
        api.force_authenticate(project_admin)
        body = {"min_agreement": 0, "drop_flagged": False, "drop_ties": False, "keep_unpaired": True}
        created = api.post("/api/projects/demo/snapshots/create/", body, format="json")
        assert created.status_code == 201, created.content
        counts = created.json()["counts"]
        assert (
            created.json()["pair_count"],
            counts["pairs"],
            counts["kept_both_bad"],
            counts["kept_tie"],
        ) == (3, 1, 1, 1)
        with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
            job = api.post(
                "/api/projects/demo/snapshots/2/exports/",
                {"format": "jsonl", "schema": "trl_unpaired", "include_ties": True}, format="json",
            )  # fmt: skip
        assert job.status_code == 202, job.content
        detail = api.get(f"/api/projects/demo/exports/{job.json()['id']}/").json()
        assert (detail["status"], detail["include_ties"], detail["total"], detail["processed"]) == (
            "succeeded",
            True,
            6,
            6,
        )
        assert detail["counts"] == {
            "preference": 2,
            "both_bad": 2,
            "tie": 2,
            "desirable": 3,
            "undesirable": 3,
        }
        lines = b"".join(api.get(detail["download"]).streaming_content).splitlines()  # type: ignore[attr-defined]
        assert [json.loads(line)["label"] for line in lines] == [True, False, False, False, True, True]

    def test_the_commands_keep_unpaired_rows_and_export_ties_when_asked(
        self, project: Project, tmp_path: Path
    ) -> None:
        unpaired_snapshot(project, LENIENT)
        out = io.StringIO()
        keep = ["--keep-ties", "--keep-unpaired", "--keep-flagged", "--min-agreement", "0"]
        call_command("snapshot_create", "demo", *keep, stdout=out)
        assert "v2: 3 pairs" in out.getvalue()
        path = tmp_path / "kto.jsonl"
        unpaired = ["--schema", "trl_unpaired", "--include-ties"]
        call_command("export_snapshot", "demo", str(path), *unpaired, stdout=out, verbosity=0)
        assert "wrote 6 rows of demo v2" in out.getvalue()
        labels = [json.loads(line)["label"] for line in path.read_text().splitlines()]
        assert labels == [True, False, False, False, True, True]
        with pytest.raises(CommandError, match="include_ties applies to the unpaired schema"):
            call_command("export_snapshot", "demo", str(path), "--include-ties", stdout=out, verbosity=0)

    def test_it_refuses_unpaired_options_that_cannot_apply(
        self, api: APIClient, snapshot: Snapshot, project_admin: User
    ) -> None:
        api.force_authenticate(project_admin)
        response = api.post("/api/projects/demo/snapshots/create/", {"keep_unpaired": True}, format="json")
        assert (
            response.status_code == 400 and "keep_unpaired" in response.json()
        )  # tie votes are dropped by default
        response = api.post(
            f"/api/projects/demo/snapshots/{snapshot.version}/exports/",
            {"format": "jsonl", "schema": "hh", "include_ties": True}, format="json",
        )  # fmt: skip
        assert response.status_code == 400 and "include_ties" in response.json()
        assert (Snapshot.objects.count(), ExportJob.objects.count()) == (1, 0)

    def test_it_reports_annotator_quality(
        self, api: APIClient, snapshot: Snapshot, project_admin: User, annotator: User
    ) -> None:
        api.force_authenticate(project_admin)
        body = api.get("/api/projects/demo/quality/").json()
        assert [a["name"] for a in body["annotators"]] == [annotator.username]
        assert body["agreement"]["project"]["votes"] == 1
