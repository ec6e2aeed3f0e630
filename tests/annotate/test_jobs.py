"""The job lifecycle (annotate/services/jobs.py): claims, heartbeats, the reaper, the timing check, the status fragments.

The worker-and-broker faults themselves (kill -9, Redis down) are in test_job_faults.py.
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.checks import run_checks
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.db.models import F
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from annotate.checks import job_timing_check
from annotate.models import ExportJob, ImportJob, JobStatus, Project, Snapshot, SnapshotPair
from annotate.services.exports import EXPORT_JOBS, export_job_path, export_job_run
from annotate.services.imports import import_job_run
from annotate.services.jobs import JobClaim, JobLost, job_claim, job_kinds, job_reap
from tests.factories import add_member, make_pair_records, make_user


def _snapshot(project: Project, pairs: int = 3) -> Snapshot:
    snapshot = Snapshot.objects.create(
        project=project, version=1, method="majority", pair_count=pairs, content_hash="t"
    )
    SnapshotPair.objects.bulk_create(
        SnapshotPair(
            snapshot=snapshot, comparison_id=i + 1, chosen_is_a=True, prompt=[{"role": "user", "content": f"q{i}"}],
            transcript=f"\n\nHuman: q{i}", chosen=f"yes {i}", rejected=f"no {i}", margin=None, agreement=1.0, votes=1,
            posterior=1.0,
        )
        for i in range(pairs)
    )  # fmt: skip
    return snapshot


def _export_job(project: Project, **fields: Any) -> ExportJob:
    snapshot = Snapshot.objects.filter(project=project).first() or _snapshot(project)
    return ExportJob.objects.create(snapshot=snapshot, format="jsonl", schema="hh", total=3, **fields)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _lost(seconds: float = 3600) -> dict[str, Any]:
    """Fields of a job whose worker was lost ``seconds`` ago (on some other host)."""
    return {
        "status": JobStatus.RUNNING, "attempts": 1, "worker": "elsewhere:1",
        "heartbeat_at": timezone.now() - timedelta(seconds=seconds),
    }  # fmt: skip


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


class JobClaimTests:
    def test_it_claims_a_queued_job_once(self, project: Project) -> None:
        job = _export_job(project)
        claim = job_claim(kind=EXPORT_JOBS, job_id=job.pk)
        assert claim is not None and (claim.job.status, claim.job.attempts) == (JobStatus.RUNNING, 1)
        assert claim.job.heartbeat_at is not None and claim.job.worker.endswith(
            f":{__import__('os').getpid()}"
        )
        assert job_claim(kind=EXPORT_JOBS, job_id=job.pk) is None

    def test_it_leaves_a_job_with_a_fresh_heartbeat_to_its_worker(self, project: Project) -> None:
        job = _export_job(project, **_lost(seconds=1))
        assert job_claim(kind=EXPORT_JOBS, job_id=job.pk) is None
        job.refresh_from_db()
        assert (job.status, job.attempts, job.worker) == (JobStatus.RUNNING, 1, "elsewhere:1")

    def test_it_reclaims_a_job_whose_heartbeat_is_stale_and_removes_the_partial_files(
        self, project: Project, media: Path
    ) -> None:
        job = _export_job(project, **_lost())
        final = export_job_path(job)
        final.parent.mkdir(parents=True)
        part = final.with_name(f".{final.name}.abc123.part")
        part.write_text("half a file")
        claim = job_claim(kind=EXPORT_JOBS, job_id=job.pk)
        assert claim is not None and claim.job.attempts == 2
        assert claim.job.retry_reason == "worker lost (elsewhere:1, attempt 1 of 3)"
        assert not part.exists()

    def test_it_removes_a_lost_attempts_half_built_datasets_folder(
        self, project: Project, media: Path
    ) -> None:
        job = _export_job(project, **_lost())
        ExportJob.objects.filter(pk=job.pk).update(format="hf_dataset")
        job.refresh_from_db()
        final = export_job_path(job)
        work = final.parent / f".{final.name}.k2j3h4"  # _write_hf_dataset's working folder
        (work / "cache").mkdir(parents=True)
        (work / "pairs.parquet").write_bytes(b"PAR1")
        (final / "data").mkdir(parents=True)  # moved into place, but never zipped
        other = final.parent / "someone-else.jsonl"
        other.write_text("kept")
        assert job_claim(kind=EXPORT_JOBS, job_id=job.pk) is not None
        assert sorted(p.name for p in final.parent.iterdir()) == ["someone-else.jsonl"]

    def test_it_reclaims_at_once_a_job_whose_worker_process_on_this_host_is_gone(
        self, project: Project
    ) -> None:
        # A pool child killed by the OOM killer: its heartbeat is fresh, but its pid is gone.
        import socket

        job = _export_job(project, **{**_lost(seconds=1), "worker": f"{socket.gethostname()}:{_dead_pid()}"})
        claim = job_claim(kind=EXPORT_JOBS, job_id=job.pk)
        assert claim is not None and claim.job.attempts == 2

    def test_it_fails_a_lost_job_with_no_attempts_left_and_says_why(self, project: Project) -> None:
        job = _export_job(project, **{**_lost(), "attempts": 3})
        assert job_claim(kind=EXPORT_JOBS, job_id=job.pk) is None
        job.refresh_from_db()
        assert job.status == JobStatus.FAILED and job.finished_at is not None
        assert job.error_message.startswith("the worker was lost on each of 3 attempts")

    def test_it_runs_a_reclaimed_export_to_the_whole_file(self, project: Project, media: Path) -> None:
        job = _export_job(project, **_lost())
        final = export_job_path(job)
        final.parent.mkdir(parents=True)
        (final.parent / f".{final.name}.dead.part").write_text("{")
        done = export_job_run(job_id=job.pk)
        assert done is not None and (done.status, done.attempts, done.processed) == (
            JobStatus.SUCCEEDED,
            2,
            3,
        )
        assert sorted(p.name for p in final.parent.iterdir()) == [final.name]
        assert len(final.read_text().splitlines()) == 3

    def test_it_runs_a_reclaimed_import_from_scratch(self, project: Project, media: Path) -> None:
        text = "".join(__import__("json").dumps(r) + "\n" for r in make_pair_records(5))
        job = ImportJob(project=project, kind="pairs", format="jsonl", batch="b7", **_lost())
        job.file.save("pairs.jsonl", SimpleUploadedFile("pairs.jsonl", text.encode()), save=False)
        job.save()
        done = import_job_run(job_id=job.pk)
        assert done is not None and (done.status, done.attempts) == (JobStatus.SUCCEEDED, 2)
        assert done.counts["comparisons"] == 5
        assert project.comparisons.filter(batch="b7").count() == 5  # the batch lives on the row


@pytest.mark.django_db(transaction=True)
class JobHeartbeatTests:
    @pytest.fixture(autouse=True)
    def postgresql(self) -> None:
        if connection.vendor != "postgresql":
            pytest.skip("the heartbeat thread runs on PostgreSQL only (SQLite has one writer at a time)")

    def _claimed(self, project: Project) -> tuple[ExportJob, JobClaim]:
        """A new export job and this worker's claim on it."""
        job = _export_job(project)
        claim = job_claim(kind=EXPORT_JOBS, job_id=job.pk)
        assert claim is not None
        return job, claim

    def test_it_beats_while_the_worker_connection_sits_in_one_long_statement(
        self, project: Project, settings: Any
    ) -> None:
        settings.CONCORD_JOB_HEARTBEAT_SECONDS = 0.5
        job, claim = self._claimed(project)
        claimed_at = claim.job.heartbeat_at
        assert claimed_at is not None
        with claim, connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(2.5)")
            job.refresh_from_db()
        assert job.heartbeat_at is not None and job.heartbeat_at - claimed_at >= timedelta(seconds=1.5)

    def test_it_stops_the_work_once_another_worker_took_the_job_over(
        self, project: Project, settings: Any
    ) -> None:
        settings.CONCORD_JOB_HEARTBEAT_SECONDS = 0.2
        job, claim = self._claimed(project)
        with claim:
            # Another worker judged this one lost and claimed the job (attempt 2).
            ExportJob.objects.filter(pk=job.pk).update(attempts=F("attempts") + 1, worker="other:2")
            deadline = time.monotonic() + 5
            while not claim.lost and time.monotonic() < deadline:
                time.sleep(0.05)
            with pytest.raises(JobLost):
                claim.progress(1, 3)
            assert claim.finish(status=JobStatus.SUCCEEDED) is False
        job.refresh_from_db()
        assert (job.status, job.attempts, job.worker) == (JobStatus.RUNNING, 2, "other:2")


class JobReapTests:
    def test_it_requeues_a_lost_job_and_sends_it_again(
        self, project: Project, media: Path, django_capture_on_commit_callbacks: Any
    ) -> None:
        job = _export_job(project, **_lost())
        final = export_job_path(job)
        final.parent.mkdir(parents=True)
        final.with_name(f".{final.name}.x.part").write_text("")
        with django_capture_on_commit_callbacks() as sends:
            result = job_reap(kinds=[EXPORT_JOBS])
        assert (result.requeued, result.failed) == (1, 0) and len(sends) == 1
        job.refresh_from_db()
        assert (job.status, job.attempt, job.sent_at) == (JobStatus.QUEUED, 2, None)
        assert list(final.parent.iterdir()) == []

    def test_it_fails_a_lost_job_out_of_attempts(
        self, project: Project, django_capture_on_commit_callbacks: Any
    ) -> None:
        job = _export_job(project, **{**_lost(), "attempts": 3})
        with django_capture_on_commit_callbacks() as sends:
            assert job_reap(kinds=[EXPORT_JOBS]).failed == 1
        assert sends == []
        job.refresh_from_db()
        assert job.status == JobStatus.FAILED and "worker lost" in job.retry_reason

    def test_it_sends_again_a_queued_job_the_broker_never_got_and_leaves_a_fresh_one(
        self, project: Project, django_capture_on_commit_callbacks: Any
    ) -> None:
        never_sent = _export_job(project)
        long_ago = timezone.now() - timedelta(hours=1)
        ExportJob.objects.filter(pk=never_sent.pk).update(created_at=long_ago)
        just_sent = ExportJob.objects.create(
            snapshot=never_sent.snapshot, format="jsonl", schema="hh", sent_at=timezone.now()
        )
        lost_message = ExportJob.objects.create(snapshot=never_sent.snapshot, format="jsonl", schema="hh")
        ExportJob.objects.filter(pk=lost_message.pk).update(created_at=long_ago, sent_at=long_ago)
        running = _export_job(project, **_lost(seconds=1))
        with django_capture_on_commit_callbacks() as sends:
            result = job_reap(kinds=[EXPORT_JOBS])
        assert (result.resent, result.requeued) == (2, 0) and len(sends) == 2
        for job in (just_sent, running):
            assert ExportJob.objects.get(pk=job.pk).status == job.status

    def test_beat_runs_it_for_imports_and_exports(self, settings: Any) -> None:
        entries = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "annotate.reap_jobs"]
        assert entries == [
            {"task": "annotate.reap_jobs", "schedule": float(settings.CONCORD_JOB_REAP_SECONDS)}
        ]
        assert {kind.name for kind in job_kinds()} >= {"import", "export"}


class JobTimingCheckTests:
    @pytest.fixture
    def redis(self, settings: Any) -> Any:
        settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/3"
        settings.CELERY_BROKER_TRANSPORT_OPTIONS = {
            "visibility_timeout": settings.CONCORD_JOB_TIME_LIMIT_SECONDS + 3600
        }
        return settings

    def test_it_passes_the_shipped_settings(self, settings: Any) -> None:
        if str(settings.CELERY_BROKER_URL).startswith("redis"):
            # config/settings.py sets the visibility timeout itself for Redis, above the job limit.
            visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
            assert visibility > settings.CONCORD_JOB_TIME_LIMIT_SECONDS
        assert [m for m in run_checks(tags=["concord"])] == []

    def test_it_refuses_a_hard_time_limit_not_below_the_visibility_timeout(self, redis: Any) -> None:
        redis.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 600}
        errors = {(e.id, e.msg.split(":")[0]) for e in job_timing_check()}
        assert ("annotate.E103", "task annotate.import_job_run") in errors
        assert ("annotate.E103", "task annotate.export_job_run") in errors
        assert any(e.id == "annotate.E103" for e in run_checks(tags=["concord"]))  # registered

    def test_it_refuses_a_redis_broker_without_a_visibility_timeout(self, redis: Any) -> None:
        redis.CELERY_BROKER_TRANSPORT_OPTIONS = {}
        assert [e.id for e in job_timing_check()] == ["annotate.E102"]

    def test_it_refuses_a_staleness_under_two_heartbeats(self, redis: Any) -> None:
        redis.CONCORD_JOB_HEARTBEAT_SECONDS = 30
        redis.CONCORD_JOB_STALE_SECONDS = 30
        assert [e.id for e in job_timing_check()] == ["annotate.E101"]


class JobStatusFragmentTests:
    @pytest.fixture
    def web(self, project: Project) -> Client:
        admin: User = make_user("fragment-admin")
        add_member(project, admin, "admin")
        client = Client()
        client.force_login(admin)  # django-axes refuses client.login(), which has no request
        return client

    def _fragment(self, web: Client, project: Project, job: ExportJob) -> str:
        url = reverse("annotate:export-status", args=[project.slug, job.pk])
        return web.get(url, HTTP_HX_REQUEST="true").content.decode()

    def test_it_shows_a_lost_worker_and_the_retry_and_keeps_polling(
        self, web: Client, project: Project
    ) -> None:
        job = _export_job(
            project, attempts=1, retry_reason="worker lost (w:1, attempt 1 of 3)", sent_at=timezone.now()
        )
        html = self._fragment(web, project, job)
        assert "worker lost — retrying (attempt 2 of 3)" in html and 'hx-trigger="every' in html

    def test_the_api_reports_the_attempts_and_why_the_last_one_was_lost(
        self, web: Client, project: Project
    ) -> None:
        job = _export_job(
            project, attempts=1, retry_reason="worker lost (w:1, attempt 1 of 3)", sent_at=timezone.now()
        )
        body = web.get(reverse("api:export-detail", args=[project.slug, job.pk])).json()
        assert (body["attempts"], body["max_attempts"], body["retry_reason"]) == (
            1,
            3,
            "worker lost (w:1, attempt 1 of 3)",
        )

    def test_it_shows_a_job_the_broker_has_not_got_as_waiting(self, web: Client, project: Project) -> None:
        html = self._fragment(web, project, _export_job(project))
        assert "waiting for a worker" in html and 'hx-trigger="every' in html

    def test_it_stops_polling_once_the_job_failed_and_shows_why(self, web: Client, project: Project) -> None:
        job = _export_job(
            project, status=JobStatus.FAILED, attempts=3, retry_reason="worker lost (w:1, attempt 3 of 3)",
            error_message="the worker was lost on each of 3 attempts",
        )  # fmt: skip
        html = self._fragment(web, project, job)
        assert "hx-trigger" not in html and "the worker was lost on each of 3 attempts" in html

    def test_the_import_fragment_stops_polling_once_finished(self, web: Client, project: Project) -> None:
        job = ImportJob.objects.create(project=project, kind="pairs", format="jsonl", file="x.jsonl")
        url = reverse("annotate:import-status", args=[project.slug, job.pk])
        assert 'hx-trigger="every' in web.get(url, HTTP_HX_REQUEST="true").content.decode()
        ImportJob.objects.filter(pk=job.pk).update(status=JobStatus.SUCCEEDED, counts={"records": 0})
        assert "hx-trigger" not in web.get(url, HTTP_HX_REQUEST="true").content.decode()
