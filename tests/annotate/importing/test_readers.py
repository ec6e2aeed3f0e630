from __future__ import annotations

from pathlib import Path

import pytest

from annotate.importing import json_reader, parquet_reader
from annotate.importing.readers import format_for, records_open
from annotate.importing.source import Position, Unreadable
from tests.annotate.importing.helpers import _write
from tests.factories import make_import_file, make_pair_records


class ReadersTests:
    def test_it_reads_jsonl_with_physical_line_numbers(self, tmp_path: Path) -> None:
        path = _write(tmp_path, "a.jsonl", '{"x": 1}\n\n  \n{"x": 2}\n{bad\n')
        got = list(records_open(path=path, fmt="jsonl"))
        assert got[0] == (Position(line=1), {"x": 1})
        assert got[1] == (Position(line=4), {"x": 2})
        assert got[2][0] == Position(line=5) and isinstance(got[2][1], Unreadable)

    def test_it_reads_a_json_array_one_element_at_a_time(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # A tiny chunk makes every element straddle reads, including numbers cut mid-way.
        monkeypatch.setattr(json_reader.JsonArraySource, "CHUNK", 3)
        path = _write(tmp_path, "a.json", ' [ {"x": "long enough to split"}, 12345, {"y": [1, 2]} ]\n')
        got = list(records_open(path=path, fmt="json"))
        assert got == [
            (Position(record=1), {"x": "long enough to split"}),
            (Position(record=2), 12345),
            (Position(record=3), {"y": [1, 2]}),
        ]

    def test_it_gives_csv_rows_the_line_they_start_on(self, tmp_path: Path) -> None:
        path = _write(tmp_path, "a.csv", 'prompt,chosen\n"two\nlines",x\n\nthird,y\n')
        got = list(records_open(path=path, fmt="csv"))
        assert got == [
            (Position(line=2), {"prompt": "two\nlines", "chosen": "x"}),
            (Position(line=5), {"prompt": "third", "chosen": "y"}),
        ]

    def test_it_reads_parquet_record_by_record(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(parquet_reader.ParquetSource, "BATCH", 2)
        path = make_import_file(tmp_path, make_pair_records(5), fmt="parquet")
        source = records_open(path=path, fmt="parquet")
        got = list(source)
        assert source.columns == ["prompt", "chosen", "rejected"]
        assert [p for p, _ in got] == [Position(record=n) for n in range(1, 6)]
        assert got[4][1]["chosen"] == "p good answer 4"

    def test_it_infers_the_format_from_the_extension(self) -> None:
        assert format_for(name="x/y.JSONL", fmt=None) == "jsonl"
        assert format_for(name="y.ndjson", fmt=None) == "jsonl"
        assert format_for(name="y.parquet", fmt=None) == "parquet"
        assert format_for(name="y.txt", fmt="csv") == "csv"
