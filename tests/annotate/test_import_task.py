"""The import task on a real Celery worker over Redis, against the test database (tests/worker.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile

from annotate.models import Comparison, ImportJob, JobStatus, Judgment, Project
from annotate.services.imports import import_job_create
from annotate.tasks.imports import import_job_run_task
from tests.factories import make_pair_records
from tests.worker import CeleryWorker, wait_for

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True)]


def _upload(records: list[dict[str, Any]] | str, name: str = "pairs.jsonl") -> SimpleUploadedFile:
    text = records if isinstance(records, str) else "".join(json.dumps(r) + "\n" for r in records)
    return SimpleUploadedFile(name, text.encode())


def _finished(job_id: int) -> ImportJob | None:
    job = ImportJob.objects.get(pk=job_id)
    return job if job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED) else None


@pytest.fixture
def worker(celery_worker_process: CeleryWorker, settings: Any) -> CeleryWorker:
    settings.MEDIA_ROOT = celery_worker_process.media_root
    settings.CONCORD_IMPORT_INLINE_MAX_RECORDS = 10  # anything bigger goes to the worker
    return celery_worker_process


class ImportJobRunTaskTests:
    def test_it_imports_a_large_file_on_the_worker(
        self, worker: CeleryWorker, project: Project, project_admin: User
    ) -> None:
        job = import_job_create(
            project=project, uploaded_file=_upload(make_pair_records(300)), kind="pairs", created_by=project_admin,
            batch="w1",
        )  # fmt: skip
        assert job.status == JobStatus.QUEUED
        done = wait_for(
            lambda: _finished(job.pk), timeout=60, what=f"import job {job.pk}\n{worker.log_tail()}"
        )
        assert done.status == JobStatus.SUCCEEDED, (done.error_message, worker.log_tail())
        assert (done.processed, done.total) == (300, 300)
        assert done.counts["comparisons"] == 300 and done.counts["judgments"] == 300
        assert done.started_at is not None and done.finished_at is not None
        assert Comparison.objects.filter(project=project, batch="w1").count() == 300
        assert Judgment.objects.filter(is_imported=True).count() == 300

    def test_it_records_the_problems_of_a_bad_file_and_writes_nothing(
        self, worker: CeleryWorker, project: Project, project_admin: User
    ) -> None:
        records: list[dict[str, Any]] = [
            *make_pair_records(20),
            {"prompt": "q", "chosen": "x", "rejected": "x"},
        ]
        job = import_job_create(
            project=project, uploaded_file=_upload(records), kind="pairs", created_by=project_admin
        )
        done = wait_for(lambda: _finished(job.pk), timeout=60, what=f"import job {job.pk}")
        assert done.status == JobStatus.FAILED
        assert done.errors == [
            {"line": 21, "record": None, "field": "rejected", "message": 'is the same as "chosen"'}
        ]
        assert (
            done.error_message == 'line 21, field "rejected": is the same as "chosen"; nothing was imported'
        )
        assert Comparison.objects.count() == 0

    def test_it_does_nothing_when_a_finished_job_is_delivered_again(
        self, worker: CeleryWorker, project: Project, project_admin: User
    ) -> None:
        job = import_job_create(
            project=project,
            uploaded_file=_upload(make_pair_records(30)),
            kind="pairs",
            created_by=project_admin,
        )
        first = wait_for(lambda: _finished(job.pk), timeout=60, what=f"import job {job.pk}")
        assert first is not None
        import_job_run_task.delay(job.pk)
        # The worker runs one task at a time in order: once a later job is done, the redelivery was handled.
        later = import_job_create(
            project=project, uploaded_file=_upload(make_pair_records(30, prefix="q")), kind="pairs",
            created_by=project_admin,
        )  # fmt: skip
        wait_for(lambda: _finished(later.pk), timeout=60, what=f"import job {later.pk}")
        again = ImportJob.objects.get(pk=job.pk)
        assert (again.status, again.counts, again.finished_at) == (
            first.status,
            first.counts,
            first.finished_at,
        )
        assert Judgment.objects.count() == 60
