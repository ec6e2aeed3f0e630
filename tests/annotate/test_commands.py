from __future__ import annotations

import io
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from django.core.management import call_command

from annotate.models import Project, Snapshot

pytestmark = pytest.mark.django_db


class CommandTests:
    def test_snapshot_create_and_export_snapshot_write_a_file(self, voted: Project, tmp_path: Path) -> None:
        log = io.StringIO()
        call_command("snapshot_create", "demo", "--min-agreement", "0", "--keep-flagged", stdout=log)
        assert "demo v1: 2 pairs" in log.getvalue()
        out = tmp_path / "out.parquet"
        call_command(
            "export_snapshot",
            "demo",
            str(out),
            "--format",
            "parquet",
            "--schema",
            "trl_conversational",
            verbosity=0,
            stdout=log,
        )
        assert pq.read_table(out).num_rows == Snapshot.objects.get().pair_count == 2
