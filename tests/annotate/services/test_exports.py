from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from django.contrib.auth.models import User

from annotate.models import ExportJob, JobStatus, Project, Snapshot
from annotate.services import exports as export_services
from annotate.services.export_files import export_write
from annotate.services.exports import export_job_create, export_job_run
from annotate.services.snapshots import snapshot_create
from tests.annotate.services.export_helpers import (
    LENIENT,
    _processed_seen_by_another_connection,
)
from tests.factories import make_comparison, make_judgment, make_project

pytestmark = pytest.mark.django_db


class ExportProgressTests:
    pytestmark = pytest.mark.django_db(transaction=True)

    @pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
    def test_it_commits_progress_between_slices(self, tmp_path: Path, fmt: str) -> None:
        project = make_project()
        for _ in range(3):
            make_judgment(make_comparison(project), None, "a", seconds=None)
        snapshot = snapshot_create(project=project, filters=LENIENT)
        job = ExportJob.objects.create(snapshot=snapshot, format=fmt, schema="hh", total=3)
        seen: list[int] = []

        def report(done: int, total: int) -> None:
            # What export_job_run's progress does, on the connection the export streams on.
            ExportJob.objects.filter(pk=job.pk).update(processed=done, total=total)
            seen.append(_processed_seen_by_another_connection(job.pk))

        export_write(snapshot=snapshot, fmt=fmt, schema="hh", path=tmp_path / f"x.{fmt}", chunk_size=1, progress=report)
        assert seen == [1, 2, 3]


class ExportJobTests:
    def test_it_runs_a_queued_job_to_a_file_and_records_progress(
        self, snapshot: Snapshot, settings: object, tmp_path: Path, django_capture_on_commit_callbacks: object
    ) -> None:
        settings.MEDIA_ROOT = tmp_path  # type: ignore[attr-defined]
        queued = export_job_create(snapshot=snapshot, fmt="parquet", schema="trl_standard")
        assert (queued.status, queued.total) == (JobStatus.QUEUED, 2)
        job = export_job_run(job_id=queued.pk)
        assert job is not None and job.status == JobStatus.SUCCEEDED
        assert (job.processed, job.percent) == (2, 100)
        assert Path(job.path).parent == tmp_path / "exports" / "demo"
        assert pq.read_table(job.path).num_rows == 2

    def test_it_runs_a_job_only_once(self, snapshot: Snapshot, settings: object, tmp_path: Path) -> None:
        settings.MEDIA_ROOT = tmp_path  # type: ignore[attr-defined]
        job = ExportJob.objects.create(snapshot=snapshot, format="jsonl", schema="hh", total=2)
        assert export_job_run(job_id=job.pk) is not None
        assert export_job_run(job_id=job.pk) is None

    def test_it_records_a_failure_on_the_row(
        self, snapshot: Snapshot, settings: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        settings.MEDIA_ROOT = tmp_path  # type: ignore[attr-defined]

        def broken(**kwargs: object) -> int:
            raise OSError("no space left on device")

        monkeypatch.setattr(export_services, "export_write", broken)
        job = ExportJob.objects.create(snapshot=snapshot, format="jsonl", schema="hh", total=2)
        job = export_job_run(job_id=job.pk)  # type: ignore[assignment]
        assert job.status == JobStatus.FAILED and "no space left" in job.error_message
        assert job.path == ""

    def test_it_zips_a_datasets_folder_for_download(self, snapshot: Snapshot, settings: object, tmp_path: Path) -> None:
        settings.MEDIA_ROOT = tmp_path  # type: ignore[attr-defined]
        job = ExportJob.objects.create(snapshot=snapshot, format="hf_dataset", schema="hh", total=2)
        job = export_job_run(job_id=job.pk)  # type: ignore[assignment]
        assert job.status == JobStatus.SUCCEEDED, job.error_message
        assert Path(job.path).is_dir()
        download = export_services.export_download_path(job)
        assert download is not None and download.name.endswith(".zip")

    def test_it_enqueues_the_task_only_after_commit(
        self, snapshot: Snapshot, django_capture_on_commit_callbacks: object, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from annotate.tasks import exports as export_tasks

        sent: list[int] = []
        monkeypatch.setattr(export_tasks.export_job_run_task, "delay", lambda job_id: sent.append(job_id))
        with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
            job = export_job_create(snapshot=snapshot, fmt="jsonl", schema="hh")
            assert sent == []
        assert sent == [job.pk]


class ExportTaskWorkerTests:
    pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True)]

    def test_a_real_worker_runs_the_export(self, request: pytest.FixtureRequest, settings: object, tmp_path: Path) -> None:
        worker = pytest.importorskip("tests.worker")
        if not hasattr(worker, "celery_worker_process"):
            pytest.skip("tests/worker.py has no celery_worker_process fixture yet")
        request.getfixturevalue("celery_worker_process")
        import time

        project = Project.objects.create(name="Worker", slug="worker")
        make_judgment(make_comparison(project), User.objects.create_user("w1"), "a")
        snapshot = snapshot_create(project=project, filters=LENIENT)
        job = export_job_create(snapshot=snapshot, fmt="jsonl", schema="hh")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.is_finished:
                break
            time.sleep(0.2)
        assert job.status == JobStatus.SUCCEEDED, job.error_message
        assert Path(job.path).is_file()
