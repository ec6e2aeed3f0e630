"""Jobs that finish through real faults: ``kill -9`` of a worker's pool child or of the whole worker in
the middle of an import or an export, and a broker that is down while jobs are created.

Each test runs its own redis-server and its own prefork workers and beat (tests/worker.py,
``fault_cluster``), with a heartbeat of 1 s, a staleness of 3 s and a reaper every second.
The jobs are made slow enough to be killed mid-way by small chunks (25 records per
import write round, 10 pairs per export slice), not by size.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from annotate.models import (
    Comparison,
    ExportJob,
    ImportJob,
    JobStatus,
    Judgment,
    Project,
    Prompt,
    Response,
    Snapshot,
    SnapshotPair,
)
from annotate.services.export_files import export_write
from annotate.services.exports import export_job_create
from annotate.services.imports import import_job_create
from tests.factories import make_pair_records
from tests.worker import FaultCluster, WorkerProcess, wait_for

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True)]

IMPORT_PAIRS = 6000
EXPORT_PAIRS = 5000
SLOW = {"CONCORD_IMPORT_CHUNK_RECORDS": "2", "CONCORD_EXPORT_CHUNK_ROWS": "3"}


def _upload(records: list[dict[str, Any]]) -> SimpleUploadedFile:
    return SimpleUploadedFile("pairs.jsonl", "".join(json.dumps(r) + "\n" for r in records).encode())


def _mid_job(model: type[ImportJob] | type[ExportJob], job_id: int) -> Any:
    """The job once it is running and part-way through writing, by its progress, else None."""
    job = model.objects.get(pk=job_id)
    assert not job.is_finished, (
        job.status,
        job.error_message,
        getattr(job, "counts", None),
        job.started_at,
        job.finished_at,
    )
    # In the first half: progress is written about once a second, so "not yet done" read late could be stale.
    return (
        job if job.status == JobStatus.RUNNING and job.total and 0 < job.processed <= job.total // 2 else None
    )


def _finished(model: type[ImportJob] | type[ExportJob], job_id: int) -> Any:
    job = model.objects.get(pk=job_id)
    return job if job.is_finished else None


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _kill_pool_child(job: ImportJob | ExportJob) -> None:
    import os
    import signal

    pid = int(job.worker.rpartition(":")[2])
    os.kill(pid, signal.SIGKILL)  # what the OOM killer does to the child that runs the job


def _import_and_kill(cluster: FaultCluster, project: Project, user: User, *, whole_worker: bool) -> ImportJob:
    cluster.env_extra.update(SLOW)
    cluster.start_beat()
    worker = cluster.start_worker()
    job = import_job_create(
        project=project, uploaded_file=_upload(make_pair_records(IMPORT_PAIRS)), kind="pairs", created_by=user
    )
    running = wait_for(
        lambda: _mid_job(ImportJob, job.pk), timeout=60, what=f"import mid-write\n{cluster.logs()}"
    )
    _kill(cluster, worker, running, whole_worker=whole_worker)
    done: ImportJob = wait_for(
        lambda: _finished(ImportJob, job.pk), timeout=90, what=f"import\n{cluster.logs()}"
    )
    return done


def _kill(
    cluster: FaultCluster, worker: WorkerProcess, job: ImportJob | ExportJob, *, whole_worker: bool
) -> None:
    if whole_worker:
        worker.kill_all()
        cluster.start_worker()  # the worker comes back (as docker restarts it); its message is not redelivered
    else:
        _kill_pool_child(job)


@pytest.fixture
def admin_user(project: Project) -> User:
    from tests.factories import add_member, make_user

    user = make_user("fault-admin")
    add_member(project, user, "admin")
    return user


@pytest.fixture
def settings_for_jobs(settings: Any) -> Any:
    settings.CONCORD_IMPORT_INLINE_MAX_RECORDS = 10  # anything bigger goes to a worker
    return settings


class ImportJobFaultTests:
    @pytest.mark.parametrize("whole_worker", [False, True], ids=["pool-child", "whole-worker"])
    def test_it_finishes_with_exactly_the_clean_rows_after_kill_9(
        self, fault_cluster: FaultCluster, settings_for_jobs: Any, project: Project, admin_user: User,
        whole_worker: bool,
    ) -> None:  # fmt: skip
        done = _import_and_kill(fault_cluster, project, admin_user, whole_worker=whole_worker)
        assert done.status == JobStatus.SUCCEEDED, (done.error_message, fault_cluster.logs())
        assert done.attempts == 2 and done.retry_reason.startswith("worker lost")
        n = IMPORT_PAIRS
        counts = {k: v for k, v in done.counts.items() if k != "seconds"}
        # What a clean run of this file gives: every pair new, one imported verdict each.
        assert counts == {
            "records": n, "prompts": n, "responses": 2 * n, "comparisons": n, "judgments": n, "duplicates": 0,
            "pairs_not_created": 0, "warnings": [], "gold": 0,
        }  # fmt: skip
        assert Prompt.objects.filter(project=project).count() == n
        assert Response.objects.filter(prompt__project=project).count() == 2 * n
        assert Comparison.objects.filter(project=project).count() == n
        assert Judgment.objects.filter(comparison__project=project, is_imported=True).count() == n
        assert (done.processed, done.total) == (n, n)


def _big_snapshot(project: Project, pairs: int) -> Snapshot:
    snapshot = Snapshot.objects.create(
        project=project, version=1, method="majority", pair_count=pairs, content_hash="fault-test"
    )
    SnapshotPair.objects.bulk_create(
        SnapshotPair(
            snapshot=snapshot, comparison_id=i + 1, chosen_is_a=True,
            prompt=[{"role": "user", "content": f"question {i}?"}], transcript=f"\n\nHuman: question {i}?",
            chosen=f"good answer {i}", rejected=f"bad answer {i}", margin=1.0, agreement=1.0, votes=3, posterior=1.0,
        )
        for i in range(pairs)
    )  # fmt: skip
    return snapshot


class ExportJobFaultTests:
    @pytest.mark.parametrize("whole_worker", [False, True], ids=["pool-child", "whole-worker"])
    def test_it_finishes_with_the_clean_file_and_no_partial_one_after_kill_9(
        self, fault_cluster: FaultCluster, project: Project, tmp_path: Path, whole_worker: bool
    ) -> None:
        snapshot = _big_snapshot(project, EXPORT_PAIRS)
        clean = tmp_path / "clean.jsonl"
        export_write(snapshot=snapshot, fmt="jsonl", schema="hh", path=clean)
        fault_cluster.env_extra.update(SLOW)
        fault_cluster.start_beat()
        worker = fault_cluster.start_worker()
        job = export_job_create(snapshot=snapshot, fmt="jsonl", schema="hh")
        running = wait_for(
            lambda: _mid_job(ExportJob, job.pk), timeout=60, what=f"export mid-way\n{fault_cluster.logs()}"
        )
        exports = fault_cluster.media_root / "exports"
        partial = _files(exports)
        assert any(name.endswith(".part") for name in partial), (
            partial,
            running.processed,
            running.attempts,
            running.worker,
            fault_cluster.logs(),
        )  # a partial file
        _kill(fault_cluster, worker, running, whole_worker=whole_worker)
        done = wait_for(
            lambda: _finished(ExportJob, job.pk), timeout=90, what=f"export\n{fault_cluster.logs()}"
        )
        assert done.status == JobStatus.SUCCEEDED, (done.error_message, fault_cluster.logs())
        assert done.attempts == 2 and done.retry_reason.startswith("worker lost")
        assert Path(done.path).read_bytes() == clean.read_bytes()
        assert _files(exports) == [str(Path(done.path).relative_to(exports))]  # no .part left anywhere
        assert (done.processed, done.total) == (EXPORT_PAIRS, EXPORT_PAIRS)


def _timed_export_create(api: APIClient, project: Project, snapshot: Snapshot) -> tuple[Any, float]:
    """The API's answer to a JSONL export request, and how long it took."""
    started = time.monotonic()
    answer = api.post(
        reverse("api:export-create", args=[project.slug, snapshot.version]),
        {"format": "jsonl", "schema": "hh"},
    )
    return answer, time.monotonic() - started


class BrokerDownTests:
    def test_jobs_created_while_redis_is_down_wait_and_then_complete(
        self, fault_cluster: FaultCluster, settings_for_jobs: Any, project: Project, admin_user: User
    ) -> None:
        snapshot = _big_snapshot(project, 50)
        fault_cluster.redis.stop()
        api = APIClient()
        api.force_authenticate(admin_user)

        answer, export_seconds = _timed_export_create(api, project, snapshot)
        assert answer.status_code == 202, answer.content
        started = time.monotonic()
        answer = api.post(
            reverse("api:import-create", args=[project.slug]),
            {"file": _upload(make_pair_records(40)), "kind": "pairs"},
            format="multipart",
        )
        import_seconds = time.monotonic() - started
        assert answer.status_code == 201, answer.content
        # Publishing fails fast: no request waits on a broker that is not there.
        assert export_seconds < 5 and import_seconds < 5, (export_seconds, import_seconds)

        export_job = ExportJob.objects.get(snapshot=snapshot)
        import_job = ImportJob.objects.get(project=project)
        for job in (export_job, import_job):
            assert (job.status, job.sent_at) == (JobStatus.QUEUED, None)
        web = Client()
        web.force_login(admin_user)  # django-axes refuses client.login(), which has no request
        for url in (
            reverse("annotate:export-status", args=[project.slug, export_job.pk]),
            reverse("annotate:import-status", args=[project.slug, import_job.pk]),
        ):
            fragment = web.get(url, HTTP_HX_REQUEST="true").content.decode()
            assert "waiting for a worker" in fragment and 'hx-trigger="every' in fragment

        fault_cluster.redis.start()  # empty: nothing of the failed sends is in it
        fault_cluster.start_beat()
        fault_cluster.start_worker()
        done_export = wait_for(
            lambda: _finished(ExportJob, export_job.pk), timeout=60, what=fault_cluster.logs()
        )
        done_import = wait_for(
            lambda: _finished(ImportJob, import_job.pk), timeout=60, what=fault_cluster.logs()
        )
        assert done_export.status == JobStatus.SUCCEEDED, done_export.error_message
        assert done_import.status == JobStatus.SUCCEEDED, done_import.error_message
        assert done_export.attempts == 1 and done_import.attempts == 1
        assert len(Path(done_export.path).read_text().splitlines()) == 50
        assert Comparison.objects.filter(project=project).count() == 40
        fragment = web.get(
            reverse("annotate:export-status", args=[project.slug, export_job.pk]), HTTP_HX_REQUEST="true"
        ).content.decode()
        assert "hx-trigger" not in fragment  # finished: the fragment stops polling

    def test_creating_a_job_answers_quickly_when_redis_hangs(
        self, fault_cluster: FaultCluster, project: Project, admin_user: User
    ) -> None:
        # A broker that accepts connections but never answers used to hold the request for ever.
        snapshot = _big_snapshot(project, 5)
        with fault_cluster.redis.process_paused():
            api = APIClient()
            api.force_authenticate(admin_user)
            answer, seconds = _timed_export_create(api, project, snapshot)
        assert answer.status_code == 202, answer.content
        assert seconds < 5, seconds  # one publish attempt, CELERY_BROKER_SOCKET_TIMEOUT=2
        job = ExportJob.objects.get(snapshot=snapshot)
        assert (job.status, job.sent_at) == (JobStatus.QUEUED, None)
