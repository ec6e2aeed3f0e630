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
from tests.annotate.services.export_helpers import unpaired_snapshot

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

    def test_it_keeps_unpaired_rows_from_the_form_and_shows_the_exports_counts_per_kind_of_vote(
        self, web: Client, project: Project, project_admin: User, settings: object, tmp_path: Path
    ) -> None:
        settings.MEDIA_ROOT = tmp_path  # type: ignore[attr-defined]
        unpaired_snapshot(project, SnapshotFilters(drop_flagged=False))  # version 1: the votes, one pair
        log_in(web, project_admin)
        form = {"method": "majority", "min_votes": 1, "min_agreement": 0, "min_posterior": 0, "keep_unpaired": "on"}
        # Tie and both-bad votes must be counted to keep such comparisons: with "drop_ties" ticked, refused.
        assert web.post("/annotate/demo/snapshots/", {**form, "drop_ties": "on"}).status_code == 400
        # Shown beside another field's own error, not only once that one is mended.
        both = web.post("/annotate/demo/snapshots/", {**form, "drop_ties": "on", "min_votes": 0}).content.decode()
        assert "greater than or equal to 1" in both and "needs tie and both-bad votes counted, not ignored" in both
        assert web.post("/annotate/demo/snapshots/", form).status_code == 302
        snapshot = Snapshot.objects.get(project=project, version=2)
        assert (snapshot.pair_count, snapshot.counts["kept_both_bad"], snapshot.counts["kept_tie"]) == (3, 1, 1)
        assert "1 preferences, 1 both bad, 1 ties" in web.get("/annotate/demo/snapshots/").content.decode()
        export = {"format": "jsonl", "schema": "trl_unpaired", "include_ties": "on"}
        web.post("/annotate/demo/snapshots/2/export/", export, HTTP_HX_REQUEST="true")
        export_job_run(job_id=ExportJob.objects.get().pk)
        body = web.get(f"/annotate/demo/exports/{ExportJob.objects.get().pk}/status/").content.decode()
        assert "rows from preferences 2, both bad 2, ties 2; 3 desirable, 3 undesirable" in body
        refused = web.post("/annotate/demo/snapshots/2/export/", {**export, "schema": "hh"})
        assert refused.status_code == 400 and ExportJob.objects.count() == 1
