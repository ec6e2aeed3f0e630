from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from annotate.models import Project, Snapshot
from annotate.services.export_files import export_write
from annotate.services.snapshots import snapshot_create
from tests.annotate.services.export_helpers import (
    CHAT,
    HH_CHAT,
    HH_SINGLE,
    LENIENT,
    _jsonl,
    _pairs,
)
from tests.factories import make_comparison, make_judgment

pytestmark = pytest.mark.django_db


class ExportWriteTests:
    def test_it_writes_hh_transcripts_as_jsonl(self, snapshot: Snapshot, tmp_path: Path) -> None:
        out = tmp_path / "hh.jsonl"
        assert export_write(snapshot=snapshot, fmt="jsonl", schema="hh", path=out) == 2
        rows = _jsonl(out)
        assert rows[0] == {"chosen": HH_CHAT + "Blue.", "rejected": HH_CHAT + "I’d rather not — ünïcode",
                           "margin": 2.0, "agreement": 1.0, "votes": 2}
        assert rows[1]["chosen"] == HH_SINGLE + "4" and rows[1]["rejected"] == HH_SINGLE + "5"
        # The imported vote counts; it has no strength, so only the annotator's "better" sets the margin.
        assert (rows[1]["votes"], rows[1]["agreement"], rows[1]["margin"]) == (3, pytest.approx(2 / 3), 2.0)

    def test_it_writes_trl_standard_with_an_explicit_prompt(self, snapshot: Snapshot, tmp_path: Path) -> None:
        out = tmp_path / "std.jsonl"
        export_write(snapshot=snapshot, fmt="jsonl", schema="trl_standard", path=out)
        row = _jsonl(out)[0]
        assert row["prompt"] == HH_CHAT.rstrip(" ")
        assert (row["chosen"], row["rejected"]) == (" Blue.", " I’d rather not — ünïcode")
        assert row["prompt"] + row["chosen"] == HH_CHAT + "Blue."  # type: ignore[operator]

    def test_it_writes_trl_conversational_as_parquet(self, snapshot: Snapshot, tmp_path: Path) -> None:
        out = tmp_path / "conv.parquet"
        export_write(snapshot=snapshot, fmt="parquet", schema="trl_conversational", path=out, chunk_size=1)
        table = pq.read_table(out)
        assert pq.ParquetFile(out).metadata.num_row_groups == 2  # one row group per streamed slice
        assert table.column_names == ["prompt", "chosen", "rejected", "margin", "agreement", "votes"]
        first = table.to_pylist()[0]
        assert first["prompt"] == CHAT
        assert first["chosen"] == [{"role": "assistant", "content": "Blue."}]
        assert first["rejected"] == [{"role": "assistant", "content": "I’d rather not — ünïcode"}]
        assert (first["margin"], first["votes"]) == (2.0, 2)

    def test_it_writes_a_folder_that_datasets_loads(self, snapshot: Snapshot, tmp_path: Path) -> None:
        import datasets

        out = tmp_path / "ds"
        export_write(snapshot=snapshot, fmt="hf_dataset", schema="hh", path=out)
        loaded = datasets.load_from_disk(str(out))
        assert loaded.num_rows == 2
        assert loaded[0]["chosen"] == HH_CHAT + "Blue."
        assert set(loaded.column_names) == {"chosen", "rejected", "margin", "agreement", "votes"}
        assert [p.name for p in tmp_path.iterdir()] == ["ds"]  # no temporary folder left behind

    def test_it_writes_null_margins_for_pairs_without_strength(self, project: Project, tmp_path: Path) -> None:
        make_judgment(make_comparison(project), None, "a", seconds=None)
        snapshot = snapshot_create(project=project, filters=LENIENT)
        out = tmp_path / "hh.parquet"
        export_write(snapshot=snapshot, fmt="parquet", schema="hh", path=out)
        assert pq.read_table(out).column("margin").to_pylist() == [None]

    def test_it_reports_progress_per_slice(self, snapshot: Snapshot, tmp_path: Path) -> None:
        seen: list[tuple[int, int]] = []
        export_write(snapshot=snapshot, fmt="jsonl", schema="hh", path=tmp_path / "x.jsonl", chunk_size=1,
                     progress=lambda done, total: seen.append((done, total)))
        assert seen == [(1, 2), (2, 2)]

    @pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
    def test_it_never_leaves_a_partial_file_at_the_final_path(self, snapshot: Snapshot, tmp_path: Path, fmt: str) -> None:
        out = tmp_path / f"hh.{fmt}"
        out.write_text("previous complete export\n")

        def fail_after_first_slice(done: int, total: int) -> None:
            if done == 1:
                raise RuntimeError("disk on fire")

        with pytest.raises(RuntimeError):
            export_write(snapshot=snapshot, fmt=fmt, schema="hh", path=out, chunk_size=1, progress=fail_after_first_slice)
        assert out.read_text() == "previous complete export\n"
        assert [p.name for p in tmp_path.iterdir()] == [out.name]

    def test_it_rejects_unknown_formats_and_schemas(self, snapshot: Snapshot, tmp_path: Path) -> None:
        with pytest.raises(ValueError):
            export_write(snapshot=snapshot, fmt="csv", schema="hh", path=tmp_path / "x")
        with pytest.raises(ValueError):
            export_write(snapshot=snapshot, fmt="jsonl", schema="alpaca", path=tmp_path / "x")


class ExportRoundTripTests:
    def test_it_imports_an_exported_hh_file_back_to_the_same_pairs(self, snapshot: Snapshot, tmp_path: Path) -> None:
        imports = pytest.importorskip("annotate.services.imports")
        out = tmp_path / "hh.jsonl"
        export_write(snapshot=snapshot, fmt="jsonl", schema="hh", path=out)
        target = Project.objects.create(name="Round trip", slug="round-trip")
        # The file as exported, margin/agreement/votes columns included: the importer must accept them.
        imports.import_file(project=target, path=out, kind="hh", fmt="jsonl")
        again = snapshot_create(project=target, filters=LENIENT)
        assert _pairs(again) == _pairs(snapshot)

    def test_it_imports_the_hh_transcripts_back_to_the_same_pairs(self, snapshot: Snapshot, tmp_path: Path) -> None:
        imports = pytest.importorskip("annotate.services.imports")
        out = tmp_path / "hh.jsonl"
        export_write(snapshot=snapshot, fmt="jsonl", schema="hh", path=out)
        bare = tmp_path / "bare.jsonl"
        bare.write_text("".join(json.dumps({"chosen": r["chosen"], "rejected": r["rejected"]}) + "\n" for r in _jsonl(out)))
        target = Project.objects.create(name="Round trip", slug="round-trip")
        imports.import_file(project=target, path=bare, kind="hh", fmt="jsonl")
        again = snapshot_create(project=target, filters=LENIENT)
        assert _pairs(again) == _pairs(snapshot)
