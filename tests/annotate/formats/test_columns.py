from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from django.db import connection

from annotate.formats.sqljson import sql_json_number
from annotate.models import Project, Snapshot
from annotate.services import export_files
from annotate.services.snapshots import snapshot_create
from tests.annotate.services.export_helpers import (
    AWKWARD_TEXTS,
    CHAT,
    LENIENT,
    _awkward_snapshot,
    _jsonl,
    unpaired_snapshot,
)
from tests.factories import add_member, make_comparison, make_judgment, make_user

pytestmark = pytest.mark.django_db


class ExportPathsAgreeTests:
    @pytest.mark.parametrize("schema", ["hh", "trl_standard", "trl_conversational"])
    def test_the_postgresql_path_writes_what_the_portable_path_writes(
        self, snapshot: Snapshot, tmp_path: Path, schema: str
    ) -> None:
        portable, fast = tmp_path / "portable.jsonl", tmp_path / "fast.jsonl"
        export_files._write_jsonl(export_files._chunks(snapshot, schema, 1), schema, portable, lambda n: None)
        export_files._write_jsonl_postgresql(snapshot, schema, fast, lambda n: None, 1)
        assert fast.read_bytes() == portable.read_bytes()
        if schema != "trl_conversational":
            portable_pq, fast_pq = tmp_path / "portable.parquet", tmp_path / "fast.parquet"
            export_files._write_parquet(export_files._chunks(snapshot, schema, 1), schema, portable_pq, lambda n: None)
            export_files._write_parquet_postgresql(snapshot, schema, fast_pq, lambda n: None, 1)
            assert pq.read_table(fast_pq).equals(pq.read_table(portable_pq))

    @pytest.mark.parametrize("chunk_size", [1, 4, 10_000])
    @pytest.mark.parametrize("schema", ["hh", "trl_standard", "trl_conversational"])
    def test_it_writes_the_same_bytes_for_awkward_text(
        self, project: Project, tmp_path: Path, schema: str, chunk_size: int
    ) -> None:
        snapshot = _awkward_snapshot(project)
        portable, fast = tmp_path / "portable.jsonl", tmp_path / "fast.jsonl"
        export_files._write_jsonl(export_files._chunks(snapshot, schema, chunk_size), schema, portable, lambda n: None)
        ticks: list[int] = []
        export_files._write_jsonl_postgresql(snapshot, schema, fast, ticks.append, chunk_size)
        assert fast.read_bytes() == portable.read_bytes()
        rows = _jsonl(fast)
        assert len(rows) == len(AWKWARD_TEXTS) == sum(ticks)
        # The data really is awkward: every kind of stat and text went through both paths.
        assert {row["margin"] for row in rows} == {None, 0.0, 8 / 3}
        assert {row["agreement"] for row in rows} == {1.0, 2 / 3}
        text = fast.read_text(encoding="utf-8")
        assert "\\u001e\\u001f" in text and '\\"hi\\" \\\\' in text and "😀" in text

    @pytest.mark.parametrize("schema", ["hh", "trl_standard", "trl_conversational"])
    def test_it_writes_a_system_turn_the_same_way_and_as_the_hh_import_reads_it(
        self, project: Project, tmp_path: Path, schema: str
    ) -> None:
        from annotate.formats.hh import hh_turns

        user = make_user()
        add_member(project, user)
        system = [{"role": "system", "content": "Be brief."}, *CHAT]
        make_judgment(make_comparison(project, prompt=system, a="Blue.", b="Red."), user, "a")
        snapshot = snapshot_create(project=project, filters=LENIENT)
        portable, fast = tmp_path / "portable.jsonl", tmp_path / "fast.jsonl"
        export_files._write_jsonl(export_files._chunks(snapshot, schema, 1), schema, portable, lambda n: None)
        export_files._write_jsonl_postgresql(snapshot, schema, fast, lambda n: None, 1)
        assert fast.read_bytes() == portable.read_bytes()
        row = _jsonl(fast)[0]
        if schema == "trl_conversational":
            assert row["prompt"] == system
        else:
            text = row["chosen"] if schema == "hh" else f"{row['prompt']}{row['chosen']}"
            assert str(text).startswith("\n\nSystem: Be brief.\n\nHuman: Hi there")
            assert hh_turns(str(text)) == [*system, {"role": "assistant", "content": "Blue."}]

    @pytest.mark.parametrize("chunk_size", [1, 2, 10_000])
    @pytest.mark.parametrize("kinds", [("preference", "both_bad"), ("preference", "both_bad", "tie")])
    def test_the_unpaired_schema_writes_the_same_bytes_on_both_paths(
        self, project: Project, tmp_path: Path, chunk_size: int, kinds: tuple[str, ...]
    ) -> None:
        snapshot = unpaired_snapshot(project)
        portable, fast = tmp_path / "portable.jsonl", tmp_path / "fast.jsonl"
        export_files._write_jsonl(
            export_files._chunks(snapshot, "trl_unpaired", chunk_size, kinds), "trl_unpaired", portable, lambda n: None
        )
        ticks: list[int] = []
        export_files._write_jsonl_postgresql(snapshot, "trl_unpaired", fast, ticks.append, chunk_size, kinds)
        assert fast.read_bytes() == portable.read_bytes()
        assert len(_jsonl(fast)) == sum(ticks) == 2 * len(kinds)

    def test_the_unpaired_schema_escapes_awkward_text_as_python_does(self, project: Project, tmp_path: Path) -> None:
        snapshot = _awkward_snapshot(project)
        portable, fast = tmp_path / "portable.jsonl", tmp_path / "fast.jsonl"
        export_files._write_jsonl(export_files._chunks(snapshot, "trl_unpaired", 4), "trl_unpaired", portable, lambda n: None)
        export_files._write_jsonl_postgresql(snapshot, "trl_unpaired", fast, lambda n: None, 4)
        assert fast.read_bytes() == portable.read_bytes()
        assert len(_jsonl(fast)) == 2 * len(AWKWARD_TEXTS)

    def test_it_writes_numbers_as_python_does(self) -> None:
        values = [None, 0.0, -0.0, 1.0, 2.0, 3.0, 2 / 3, 8 / 3, 0.1, 0.30000000000000004, 1e-4, 9.99e-5, 1e-5,
                  5e-324, 1e14, 123456789012345.6, 999999999999999.0, float("inf"), float("-inf"), float("nan")]
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL extra_float_digits = 1")
            cursor.execute(
                f"SELECT {sql_json_number('v')} FROM unnest(%s::float8[]) WITH ORDINALITY AS x(v, o) "
                "ORDER BY o",
                [values],
            )
            written = [row[0] for row in cursor.fetchall()]
        assert written == [json.dumps(v) for v in values]
