from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from annotate.models import Project, Snapshot
from annotate.services.export_files import export_row_counts, export_write
from annotate.services.snapshots import snapshot_create
from tests.annotate.services.export_helpers import (
    CHAT,
    HH_CHAT,
    HH_SINGLE,
    LENIENT,
    _jsonl,
    _pairs,
    unpaired_snapshot,
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


Q_SUM, Q_CHAT, Q_HI = "\n\nHuman: What is 2+2?\n\nAssistant:", HH_CHAT.rstrip(" "), "\n\nHuman: Say hi.\n\nAssistant:"


def _labelled(rows: list[dict[str, object]]) -> list[tuple[object, object, object]]:
    return [(row["prompt"], row["completion"], row["label"]) for row in rows]


class ExportUnpairedTests:
    """trl_unpaired: one row per response, chosen desirable, rejected and both-bad undesirable, ties when asked."""

    def test_it_writes_the_pair_as_desirable_and_undesirable_and_both_bad_as_two_undesirable(
        self, project: Project, tmp_path: Path
    ) -> None:
        out = tmp_path / "kto.jsonl"
        assert export_write(snapshot=unpaired_snapshot(project), fmt="jsonl", schema="trl_unpaired", path=out) == 4
        rows = _jsonl(out)
        assert _labelled(rows) == [
            (Q_SUM, " 4", True), (Q_SUM, " 5", False), (Q_CHAT, " Seven.", False), (Q_CHAT, " Purple-ish?", False)
        ]  # fmt: skip
        assert list(rows[0]) == ["prompt", "completion", "label", "margin", "agreement", "votes"]
        assert (rows[0]["margin"], rows[0]["votes"], rows[2]["margin"], rows[2]["agreement"]) == (2.0, 2, None, 1.0)

    def test_it_writes_ties_as_two_desirable_rows_only_when_asked(self, project: Project, tmp_path: Path) -> None:
        snapshot = unpaired_snapshot(project)
        out = tmp_path / "kto.parquet"
        assert export_write(snapshot=snapshot, fmt="parquet", schema="trl_unpaired", path=out, include_ties=True) == 6
        rows = pq.read_table(out).to_pylist()
        assert _labelled(rows)[4:] == [(Q_HI, " Hi!", True), (Q_HI, " Hello!", True)]
        export_write(snapshot=snapshot, fmt="parquet", schema="trl_unpaired", path=out)
        assert " Hi!" not in [row["completion"] for row in pq.read_table(out).to_pylist()]

    def test_it_counts_the_rows_from_each_kind_of_vote(self, project: Project) -> None:
        snapshot = unpaired_snapshot(project)
        assert export_row_counts(snapshot=snapshot, schema="trl_unpaired") == {
            "preference": 2, "both_bad": 2, "tie": 0, "desirable": 1, "undesirable": 3
        }  # fmt: skip
        assert export_row_counts(snapshot=snapshot, schema="trl_unpaired", include_ties=True) == {
            "preference": 2, "both_bad": 2, "tie": 2, "desirable": 3, "undesirable": 3
        }  # fmt: skip
        assert export_row_counts(snapshot=snapshot, schema="hh") == {"preference": 1, "both_bad": 0, "tie": 0}

    @pytest.mark.parametrize("schema", ["hh", "trl_standard", "trl_conversational"])
    def test_pairwise_schemas_skip_the_both_bad_and_tie_rows(self, project: Project, tmp_path: Path, schema: str) -> None:
        out = tmp_path / "pairs.jsonl"
        assert export_write(snapshot=unpaired_snapshot(project), fmt="jsonl", schema=schema, path=out) == 1
        assert len(_jsonl(out)) == 1

    def test_it_refuses_ties_for_a_pairwise_schema(self, project: Project, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="include_ties applies to the unpaired schema"):
            export_write(
                snapshot=unpaired_snapshot(project), fmt="jsonl", schema="hh", path=tmp_path / "x", include_ties=True
            )

    def test_every_format_loads_with_datasets(self, project: Project, tmp_path: Path) -> None:
        import datasets

        snapshot = unpaired_snapshot(project)
        for fmt in ("jsonl", "parquet", "hf_dataset"):
            export_write(snapshot=snapshot, fmt=fmt, schema="trl_unpaired", path=tmp_path / fmt, include_ties=True)
        cache = str(tmp_path / "cache")
        loaded = [
            datasets.load_dataset("json", data_files=str(tmp_path / "jsonl"), split="train", cache_dir=cache),
            datasets.load_dataset("parquet", data_files=str(tmp_path / "parquet"), split="train", cache_dir=cache),
            datasets.load_from_disk(str(tmp_path / "hf_dataset")),
        ]
        for dataset in loaded:
            assert dataset.num_rows == 6
            assert dataset.features["label"].dtype == "bool"
            assert dataset["label"] == [True, False, False, False, True, True]
            assert dataset[0]["prompt"] + dataset[0]["completion"] == Q_SUM + " 4"
