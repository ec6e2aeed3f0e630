from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client

from annotate.aggregation.selection import SnapshotFilters
from annotate.models import ExportJob, JobStatus, Project, Snapshot
from annotate.services.exports import export_job_run
from annotate.services.snapshots import snapshot_create
from tests.annotate.crowds import log_in

pytestmark = pytest.mark.django_db


class SnapshotPageTests:
    def test_it_creates_a_snapshot_from_the_form_and_lists_it(
        self, web: Client, voted: Project, project_admin: User
    ) -> None:
        log_in(web, project_admin)
        form = {
            "method": "majority",
            "min_votes": 1,
            "min_agreement": 0.5,
            "min_posterior": 0,
            "drop_ties": "on",
        }
        assert web.post("/annotate/demo/snapshots/", form).status_code == 302
        snapshot = Snapshot.objects.get(project=voted)
        assert snapshot.pair_count == 2 and snapshot.created_by == project_admin
        assert snapshot.filters["drop_flagged"] is False
        html = web.get("/annotate/demo/snapshots/").content.decode()
        assert "v1" in html and snapshot.content_hash[:12] in html

    def test_it_queues_an_export_and_polls_its_progress(
        self, web: Client, voted: Project, project_admin: User, settings: object, tmp_path: Path
    ) -> None:
        settings.MEDIA_ROOT = tmp_path  # type: ignore[attr-defined]
        log_in(web, project_admin)
        snapshot = snapshot_create(
            project=voted, filters=SnapshotFilters(min_agreement=0.0, drop_flagged=False)
        )
        response = web.post(
            f"/annotate/demo/snapshots/{snapshot.version}/export/",
            {"format": "parquet", "schema": "hh"},
            HTTP_HX_REQUEST="true",
        )
        job = ExportJob.objects.get()
        body = response.content.decode()
        assert 'hx-trigger="every 1s"' in body and 'class="bar"' in body
        export_job_run(job_id=job.pk)
        body = web.get(f"/annotate/demo/exports/{job.pk}/status/").content.decode()
        assert "hx-trigger" not in body and f"/annotate/demo/exports/{job.pk}/download/" in body
        assert ExportJob.objects.get().status == JobStatus.SUCCEEDED
